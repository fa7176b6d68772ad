{{/* Names and labels. */}}
{{- define "outrigger.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "outrigger.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Full name of a component's objects: (dict "ctx" $ "component" "worker"). */}}
{{- define "outrigger.componentName" -}}
{{- printf "%s-%s" (include "outrigger.fullname" .ctx | trunc 55 | trimSuffix "-") .component -}}
{{- end -}}

{{- define "outrigger.serviceAccountName" -}}
{{- default (include "outrigger.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "outrigger.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "outrigger.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: outrigger
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "gateway"). */}}
{{- define "outrigger.selectorLabels" -}}
app.kubernetes.io/name: {{ include "outrigger.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "outrigger.componentLabels" -}}
{{ include "outrigger.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The image, by digest when one is given; the compliance profile requires one. */}}
{{- define "outrigger.image" -}}
{{- $image := .Values.image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else if $image.requireDigest -}}
{{- fail "image.digest is required (image.requireDigest is on): pin the image by its sha256 digest" -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* OUTRIGGER_MODELS__CREDIT_RISK from "credit-risk". */}}
{{- define "outrigger.envKey" -}}
{{- . | upper | replace "-" "_" | replace "." "_" -}}
{{- end -}}

{{/* Paths of the mounted secret files, relative to secrets.mountPath. */}}
{{- define "outrigger.storageFile" -}}storage/url{{- end -}}
{{- define "outrigger.redisFile" -}}redis/url{{- end -}}
{{- define "outrigger.tlsCertFile" -}}gateway-tls/tls.crt{{- end -}}
{{- define "outrigger.tlsKeyFile" -}}gateway-tls/tls.key{{- end -}}
{{- define "outrigger.tlsKeyPasswordFile" -}}gateway-tls/tls.key.password{{- end -}}
{{- define "outrigger.providerFile" -}}{{ printf "providers/%s/api-key" . }}{{- end -}}

{{/*
The bus kinds that are a networked broker, each with the port its clients connect to (SQS:
HTTPS to the AWS API). sqlite and memory are in-process: no broker to reach or scale on.
*/}}
{{- define "outrigger.brokerPorts" -}}
{{- toJson (dict "rabbitmq" 5672 "kafka" 9092 "nats" 4222 "redis" 6379 "sqs" 443) -}}
{{- end -}}

{{- define "outrigger.usesBroker" -}}
{{- if hasKey (include "outrigger.brokerPorts" . | fromJson) .Values.config.bus.kind -}}true{{- end -}}
{{- end -}}

{{/*
The worker's bus Secret, as JSON {values, secret, file, env, required}: which `secrets.*`
entry, its mounted path and the *_FILE setting pointing at it; "" when the bus needs none
(sqlite, memory, SQS: boto3's credential chain; Kafka without SASL).
*/}}
{{- define "outrigger.busSecret" -}}
{{- $bus := .Values.config.bus -}}
{{- $s := .Values.secrets -}}
{{- if eq $bus.kind "rabbitmq" -}}
{{- toJson (dict "values" "rabbitmq" "secret" $s.rabbitmq "file" "rabbitmq/url" "env" "OUTRIGGER_BUS__RABBITMQ__URL_FILE") -}}
{{- else if eq $bus.kind "nats" -}}
{{- toJson (dict "values" "nats" "secret" $s.nats "file" "nats/url" "env" "OUTRIGGER_BUS__NATS__URL_FILE") -}}
{{- else if eq $bus.kind "redis" -}}
{{- toJson (dict "values" "redisBus" "secret" $s.redisBus "file" "redis-bus/url" "env" "OUTRIGGER_BUS__REDIS__URL_FILE") -}}
{{- else if and (eq $bus.kind "kafka") $bus.kafka.saslMechanism -}}
{{- toJson (dict "values" "kafka" "secret" $s.kafka "file" "kafka/sasl-password" "env" "OUTRIGGER_BUS__KAFKA__SASL_PASSWORD_FILE") -}}
{{- end -}}
{{- end -}}

{{/* A NATS stream or consumer name, as the bus makes it (bus/nats/naming.py entity_name). */}}
{{- define "outrigger.natsName" -}}
{{- regexReplaceAll "[^A-Za-z0-9_-]" . "_" -}}
{{- end -}}

{{/* The SQS name of the worker's queue, as the bus makes it (bus/sqs/codec.py queue_name). */}}
{{- define "outrigger.sqsQueueName" -}}
{{- $sqs := .Values.config.bus.sqs -}}
{{- $base := regexReplaceAll "[^A-Za-z0-9_-]" (printf "%s%s" $sqs.queuePrefix .Values.config.bus.queue) "-" -}}
{{- $room := ternary 75 80 $sqs.fifo -}}
{{- if gt (len $base) $room -}}
{{- $base = printf "%s-%s" (trunc (int (sub $room 13)) $base) (trunc 12 (sha256sum $base)) -}}
{{- end -}}
{{- printf "%s%s" $base (ternary ".fifo" "" $sqs.fifo) -}}
{{- end -}}

{{/* The AWS host of SQS in the configured region (what boto3 calls without endpointUrl). */}}
{{- define "outrigger.sqsHost" -}}
{{- printf "sqs.%s.amazonaws.com" .Values.config.bus.sqs.region -}}
{{- end -}}

{{/* Checks that a regulated namespace needs; a failed check stops the render. */}}
{{- define "outrigger.complianceChecks" -}}
{{- $c := .Values.compliance -}}
{{- if $c.enabled -}}
{{- if and $c.requireStorage (not .Values.secrets.storage.secretName) -}}
{{- fail "compliance: secrets.storage.secretName is required (PostgreSQL, not per-pod SQLite)" -}}
{{- end -}}
{{- if and $c.requireSharedLimits (not .Values.secrets.redis.secretName) -}}
{{- fail "compliance: secrets.redis.secretName is required (quotas and rate limits across replicas)" -}}
{{- end -}}
{{- if and $c.requireModelPins (not .Values.models) -}}
{{- fail "compliance: pin every model version in `models`" -}}
{{- end -}}
{{- if $c.requireExactProviderNames -}}
{{- range .Values.networkPolicy.llmProviders.fqdns -}}
{{- if not .matchName -}}
{{- fail "compliance: networkPolicy.llmProviders.fqdns takes exact names (matchName) only" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not .Values.networkPolicy.enabled -}}
{{- fail "compliance: networkPolicy.enabled must stay on" -}}
{{- end -}}
{{- if and $c.requireTls (not .Values.secrets.gatewayTls.secretName) -}}
{{- fail "compliance: secrets.gatewayTls.secretName is required (the gateway serves HTTPS only)" -}}
{{- end -}}
{{- end -}}
{{- end -}}
