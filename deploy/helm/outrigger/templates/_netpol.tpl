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

{{/* The peers a component may open connections to (besides DNS and the LLM hosts). */}}
{{- define "outrigger.np.egressPeers" -}}
{{- $np := .ctx.Values.networkPolicy -}}
{{- $peers := list -}}
{{- if and (eq .component "worker") (include "outrigger.usesRabbitmq" .ctx) -}}
{{- $peers = append $peers $np.broker -}}
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
