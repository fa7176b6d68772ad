{{/*
What both Deployments' pods share. Every helper takes (dict "ctx" $ "component" "worker").
*/}}

{{/* Settings as environment variables: plain values, and *_FILE paths for every secret. */}}
{{- define "outrigger.env" -}}
{{- $v := .ctx.Values -}}
{{- $secrets := $v.secrets.mountPath -}}
- name: OUTRIGGER_DATA_DIR
  value: {{ $v.config.dataDir | quote }}
- name: OUTRIGGER_EMBEDDINGS__COMPILED_DIR  # the cache encoder's integer rewrite, kept
  value: {{ printf "%s/compiled" $v.config.dataDir | quote }}
- name: OUTRIGGER_PIPELINES_FILE
  value: /etc/outrigger/pipelines.yaml
- name: OUTRIGGER_CONFIG_FILE
  value: /etc/outrigger/outrigger.yaml
- name: OUTRIGGER_LOG_LEVEL
  value: {{ $v.config.logLevel | quote }}
- name: OUTRIGGER_TELEMETRY__LOG_FORMAT
  value: {{ $v.config.logFormat | quote }}
{{- with $v.config.otlpEndpoint }}
- name: OUTRIGGER_TELEMETRY__OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- if eq .component "worker" }}
- name: OUTRIGGER_TELEMETRY__METRICS_PORT
  value: {{ $v.worker.metricsPort | quote }}
- name: OUTRIGGER_WORKER__DRAIN_TIMEOUT_S
  value: {{ $v.worker.drainTimeoutSeconds | quote }}
{{- with $v.config.bus }}
- name: OUTRIGGER_BUS__KIND
  value: {{ .kind | quote }}
- name: OUTRIGGER_BUS__EXCHANGE
  value: {{ .exchange | quote }}
{{- with .resultExchange }}
- name: OUTRIGGER_BUS__RESULT_EXCHANGE
  value: {{ . | quote }}
{{- end }}
- name: OUTRIGGER_BUS__QUEUE
  value: {{ .queue | quote }}
- name: OUTRIGGER_BUS__DEAD_LETTER_QUEUE
  value: {{ .deadLetterQueue | quote }}
{{- if eq .kind "kafka" }}
{{- with .kafka }}
- name: OUTRIGGER_BUS__KAFKA__BOOTSTRAP_SERVERS
  value: {{ required "config.bus.kafka.bootstrapServers is required with the kafka bus" .bootstrapServers | quote }}
- name: OUTRIGGER_BUS__KAFKA__GROUP_PREFIX
  value: {{ .groupPrefix | quote }}
- name: OUTRIGGER_BUS__KAFKA__SECURITY_PROTOCOL
  value: {{ .securityProtocol | quote }}
- name: OUTRIGGER_BUS__KAFKA__START_AT
  value: {{ .startAt | quote }}
{{- with .saslMechanism }}
- name: OUTRIGGER_BUS__KAFKA__SASL_MECHANISM
  value: {{ . | quote }}
{{- end }}
{{- with .saslUsername }}
- name: OUTRIGGER_BUS__KAFKA__SASL_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- else if eq .kind "sqs" }}
{{- with .sqs }}
- name: OUTRIGGER_BUS__SQS__REGION
  value: {{ required "config.bus.sqs.region is required with the sqs bus" .region | quote }}
- name: OUTRIGGER_BUS__SQS__QUEUE_PREFIX
  value: {{ .queuePrefix | quote }}
- name: OUTRIGGER_BUS__SQS__FIFO
  value: {{ .fifo | quote }}
{{- with .endpointUrl }}
- name: OUTRIGGER_BUS__SQS__ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- with include "outrigger.busSecret" .ctx }}
{{- $b := fromJson . }}
- name: {{ $b.env }}
  value: {{ printf "%s/%s" $secrets $b.file | quote }}
{{- end }}
{{- end }}
{{- if $v.secrets.storage.secretName }}
- name: OUTRIGGER_STORAGE__URL_FILE
  value: {{ printf "%s/%s" $secrets (include "outrigger.storageFile" .) | quote }}
{{- end }}
{{- if and (eq .component "gateway") $v.secrets.redis.secretName }}
- name: OUTRIGGER_TENANCY__REDIS_URL_FILE
  value: {{ printf "%s/%s" $secrets (include "outrigger.redisFile" .) | quote }}
{{- end }}
{{- if and (eq .component "gateway") $v.secrets.gatewayTls.secretName }}
- name: OUTRIGGER_GATEWAY__TLS_CERT_FILE
  value: {{ printf "%s/%s" $secrets (include "outrigger.tlsCertFile" .) | quote }}
- name: OUTRIGGER_GATEWAY__TLS_KEY_FILE
  value: {{ printf "%s/%s" $secrets (include "outrigger.tlsKeyFile" .) | quote }}
{{- if $v.secrets.gatewayTls.passwordKey }}
- name: OUTRIGGER_GATEWAY__TLS_KEY_PASSWORD_FILE
  value: {{ printf "%s/%s" $secrets (include "outrigger.tlsKeyPasswordFile" .) | quote }}
{{- end }}
{{- end }}
{{- if and (eq .component "gateway") $v.compliance.enabled $v.compliance.requireTls }}
- name: OUTRIGGER_GATEWAY__REQUIRE_TLS
  value: "true"
{{- end }}
{{- range $v.secrets.providers }}
{{- /* The provider's own name (dashes kept): the app lower-cases it to match settings.llm. */}}
- name: {{ printf "OUTRIGGER_LLM__PROVIDERS__%s__API_KEY_FILE" (upper .name) }}
  value: {{ printf "%s/%s" $secrets (include "outrigger.providerFile" .name) | quote }}
{{- end }}
{{- with $v.config.registry }}
- name: OUTRIGGER_REGISTRY__KIND
  value: {{ .kind | quote }}
{{- if eq .kind "s3" }}
- name: OUTRIGGER_REGISTRY__S3_BUCKET
  value: {{ required "config.registry.s3Bucket is required with the s3 registry" .s3Bucket | quote }}
- name: OUTRIGGER_REGISTRY__S3_PREFIX
  value: {{ .s3Prefix | quote }}
{{- with .s3EndpointUrl }}
- name: OUTRIGGER_REGISTRY__S3_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- range $name, $version := $v.models }}
- name: {{ printf "OUTRIGGER_MODELS__%s" (include "outrigger.envKey" $name) }}
  value: {{ $version | quote }}
{{- end }}
{{- with (index $v .component).extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Sources of the one projected secrets volume; empty when the component needs none. */}}
{{- define "outrigger.secretSources" -}}
{{- $v := .ctx.Values -}}
{{- if eq .component "worker" }}
{{- with include "outrigger.busSecret" .ctx }}
{{- $b := fromJson . }}
- secret:
    name: {{ required (printf "secrets.%s.secretName is required with the %s bus" $b.values $v.config.bus.kind) $b.secret.secretName }}
    items:
      - key: {{ $b.secret.key }}
        path: {{ $b.file }}
{{- end }}
{{- end }}
{{- with $v.secrets.storage }}
{{- if .secretName }}
- secret:
    name: {{ .secretName }}
    items:
      - key: {{ .key }}
        path: {{ include "outrigger.storageFile" . }}
{{- end }}
{{- end }}
{{- if and (eq .component "gateway") $v.secrets.redis.secretName }}
- secret:
    name: {{ $v.secrets.redis.secretName }}
    items:
      - key: {{ $v.secrets.redis.key }}
        path: {{ include "outrigger.redisFile" . }}
{{- end }}
{{- if and (eq .component "gateway") $v.secrets.gatewayTls.secretName }}
{{- with $v.secrets.gatewayTls }}
- secret:
    name: {{ .secretName }}
    items:
      - key: {{ .certKey }}
        path: {{ include "outrigger.tlsCertFile" . }}
      - key: {{ .keyKey }}
        path: {{ include "outrigger.tlsKeyFile" . }}
      {{- if .passwordKey }}
      - key: {{ .passwordKey }}
        path: {{ include "outrigger.tlsKeyPasswordFile" . }}
      {{- end }}
{{- end }}
{{- end }}
{{- range $v.secrets.providers }}
- secret:
    name: {{ .secretName }}
    items:
      - key: {{ .key }}
        path: {{ include "outrigger.providerFile" .name }}
{{- end }}
{{- end -}}

{{- define "outrigger.volumes" -}}
{{- $v := .ctx.Values -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ $v.config.tmpSizeLimit }}
- name: data
  emptyDir:
    sizeLimit: {{ $v.config.dataDirSizeLimit }}
- name: config
  configMap:
    name: {{ include "outrigger.fullname" .ctx }}-config
{{- with include "outrigger.secretSources" . }}
- name: secrets
  projected:
    # 0440: readable by the pod's group (fsGroup) only.
    defaultMode: 288
    sources:
{{- . | trim | nindent 6 }}
{{- end }}
{{- end -}}

{{- define "outrigger.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: {{ .ctx.Values.config.dataDir }}
- name: config
  mountPath: /etc/outrigger
  readOnly: true
{{- if include "outrigger.secretSources" . }}
- name: secrets
  mountPath: {{ .ctx.Values.secrets.mountPath }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "outrigger.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "outrigger.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* `outrigger config check` before the main container: settings, pipelines, models. */}}
{{- define "outrigger.configCheck" -}}
{{- if .ctx.Values.configCheck.enabled }}
initContainers:
  - name: config-check
    image: {{ include "outrigger.image" .ctx }}
    imagePullPolicy: {{ .ctx.Values.image.pullPolicy }}
    command: [outrigger]
    args: [config, check]
    env:
{{- include "outrigger.env" . | nindent 6 }}
    resources:
{{- toYaml .ctx.Values.configCheck.resources | nindent 6 }}
    securityContext:
{{- include "outrigger.containerSecurityContext" .ctx | nindent 6 }}
    volumeMounts:
{{- include "outrigger.volumeMounts" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* Pod-level fields both Deployments share. */}}
{{- define "outrigger.podCommon" -}}
{{- $v := index .ctx.Values .component -}}
serviceAccountName: {{ include "outrigger.serviceAccountName" .ctx }}
automountServiceAccountToken: false
enableServiceLinks: false
terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
securityContext:
{{- include "outrigger.podSecurityContext" .ctx | nindent 2 }}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.topologySpreadConstraints }}
topologySpreadConstraints:
{{- range . }}
  - {{ toYaml . | nindent 4 | trim }}
    labelSelector:
      matchLabels:
{{- include "outrigger.selectorLabels" $ | nindent 8 }}
{{- end }}
{{- end }}
volumes:
{{- include "outrigger.volumes" . | nindent 2 }}
{{- include "outrigger.configCheck" . }}
{{- end -}}

{{- define "outrigger.podAnnotations" -}}
checksum/config: {{ printf "%s\n%s" (include "outrigger.pipelines" .ctx) (include "outrigger.settingsFile" .ctx) | sha256sum }}
{{- with .ctx.Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "outrigger.pipelines" -}}
{{- if .Values.pipelines -}}
{{- .Values.pipelines -}}
{{- else -}}
{{- .Files.Get "files/pipelines.yaml" -}}
{{- end -}}
{{- end -}}

{{/* The settings file: `settings` as YAML; each provider of secrets.providers must exist. */}}
{{- define "outrigger.settingsFile" -}}
{{- $settings := .Values.settings | default dict -}}
{{- $providers := dig "llm" "providers" dict $settings -}}
{{- range .Values.secrets.providers -}}
{{- if not (hasKey $providers .name) -}}
{{- fail (printf "secrets.providers: %q is not a provider of settings.llm.providers" .name) -}}
{{- end -}}
{{- end -}}
{{- if $settings -}}
{{- toYaml $settings -}}
{{- else -}}
{}
{{- end -}}
{{- end -}}
