{{/*
Network isolation helpers. A peer is {namespace, podLabels, ports}; "" means the release's
namespace. Used by networkpolicy-cilium.yaml and networkpolicy-kubernetes.yaml.
*/}}

{{- define "outrigger.np.flavor" -}}
{{- $f := .Values.networkPolicy.flavor -}}
{{- if not (has $f (list "cilium" "kubernetes" "both")) -}}
{{- fail (printf "networkPolicy.flavor must be cilium, kubernetes or both, not %q" $f) -}}
{{- end -}}
{{- $f -}}
{{- end -}}

{{/*
The worker's broker, resolved for the bus kind, as JSON; "" when the component reaches no
broker (the gateway, or an in-process bus). {kind, ports} plus, for a broker running as pods,
{namespace, podLabels}, and for SQS (an AWS HTTPS API, not a pod) {fqdns, cidrs}. Unset
ports: the kind's default port; unset podLabels: app.kubernetes.io/name=<kind>; unset SQS
fqdns: sqs.<region>.amazonaws.com.
*/}}
{{- define "outrigger.np.broker" -}}
{{- $v := .ctx.Values -}}
{{- $kind := $v.config.bus.kind -}}
{{- if and (eq .component "worker") (include "outrigger.usesBroker" .ctx) -}}
{{- $b := $v.networkPolicy.broker -}}
{{- $port := get (include "outrigger.brokerPorts" .ctx | fromJson) $kind -}}
{{- $ports := $b.ports | default (list $port) -}}
{{- if eq $kind "sqs" -}}
{{- $fqdns := $b.fqdns | default (list (dict "matchName" (include "outrigger.sqsHost" .ctx))) -}}
{{- toJson (dict "kind" $kind "ports" $ports "fqdns" $fqdns "cidrs" ($b.cidrs | default list)) -}}
{{- else -}}
{{- $labels := $b.podLabels | default (dict "app.kubernetes.io/name" $kind) -}}
{{- toJson (dict "kind" $kind "ports" $ports "namespace" $b.namespace "podLabels" $labels) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The peers (pods) a component may open connections to (besides DNS and external hosts). */}}
{{- define "outrigger.np.egressPeers" -}}
{{- $np := .ctx.Values.networkPolicy -}}
{{- $peers := list -}}
{{- with include "outrigger.np.broker" . -}}
{{- $broker := fromJson . -}}
{{- if ne $broker.kind "sqs" -}}
{{- $peers = append $peers $broker -}}
{{- end -}}
{{- end -}}
{{- $names := list "vectorStore" "database" "telemetry" -}}
{{- if eq .component "gateway" -}}
{{- $names = append $names "cache" -}}
{{- end -}}
{{- range $name := $names -}}
{{- $peer := index $np $name -}}
{{- if $peer.enabled -}}
{{- $peers = append $peers $peer -}}
{{- end -}}
{{- end -}}
{{- toJson $peers -}}
{{- end -}}

{{/* Cilium endpoint labels of a peer: (dict "peer" $peer "namespace" $.Release.Namespace). */}}
{{- define "outrigger.cnp.labels" -}}
k8s:io.kubernetes.pod.namespace: {{ default .namespace .peer.namespace }}
{{- range $key, $value := .peer.podLabels }}
{{ $key }}: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* One Cilium port rule: (dict "ports" (list 5672) "protocol" "TCP"); ports are strings. */}}
{{- define "outrigger.cnp.ports" -}}
{{- $ports := list -}}
{{- range .ports -}}
{{- $ports = append $ports (dict "port" (toString .) "protocol" $.protocol) -}}
{{- end -}}
{{- toYaml (list (dict "ports" $ports)) -}}
{{- end -}}

{{/* NetworkPolicy peer: namespaceSelector by the namespace's name label, podSelector if any. */}}
{{- define "outrigger.knp.peer" -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ default .namespace .peer.namespace }}
  {{- with .peer.podLabels }}
  podSelector:
    matchLabels:
      {{- toYaml . | nindent 6 }}
  {{- end }}
{{- end -}}

{{/* NetworkPolicy ports: (dict "ports" (list 53) "protocols" (list "UDP" "TCP")). */}}
{{- define "outrigger.knp.ports" -}}
{{- $out := list -}}
{{- range $port := .ports -}}
{{- range $protocol := $.protocols -}}
{{- $out = append $out (dict "port" (int $port) "protocol" $protocol) -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}
