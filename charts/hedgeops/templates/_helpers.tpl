{{/* Names and labels shared by every template. */}}

{{- define "hedgeops.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hedgeops.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "hedgeops.labels" -}}
app.kubernetes.io/name: {{ include "hedgeops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "hedgeops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hedgeops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "hedgeops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hedgeops.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Redis URL the operator uses: the bundled Redis, or the one given. Empty means in-memory (one replica). */}}
{{- define "hedgeops.redisUrl" -}}
{{- if .Values.redis.enabled -}}
{{- printf "redis://%s-redis:6379/0" (include "hedgeops.fullname" .) -}}
{{- else -}}
{{- .Values.redis.url -}}
{{- end -}}
{{- end -}}

{{/* The Prometheus job label of the operator's metrics: the metrics Service's name (ServiceMonitor default). */}}
{{- define "hedgeops.metricsJob" -}}
{{- printf "%s-metrics" (include "hedgeops.fullname" .) -}}
{{- end -}}

{{/* {okx: url, binance: url} -> "binance=url,okx=url" (HEDGEOPS_EXCHANGE_URLS), sorted for stable renders. */}}
{{- define "hedgeops.exchangeUrls" -}}
{{- $parts := list -}}
{{- range $name := keys . | sortAlpha -}}
{{- $parts = append $parts (printf "%s=%s" $name (index $ $name)) -}}
{{- end -}}
{{- join "," $parts -}}
{{- end -}}
