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
{{- define "outrigger.rabbitmqFile" -}}rabbitmq/url{{- end -}}
{{- define "outrigger.storageFile" -}}storage/url{{- end -}}
{{- define "outrigger.redisFile" -}}redis/url{{- end -}}
{{- define "outrigger.providerFile" -}}{{ printf "providers/%s/api-key" . }}{{- end -}}

{{- define "outrigger.usesRabbitmq" -}}
{{- if eq .Values.config.bus.kind "rabbitmq" -}}true{{- end -}}
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
{{- end -}}
{{- end -}}
