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

{{/* The Redis URL the operator uses: the bundled Redis, or the one given. Empty means in-memory (one replica).
The bundled one's password is $(REDIS_PASSWORD): the kubelet expands it from the env var defined just before, so the
password itself never appears in the Deployment. */}}
{{- define "hedgeops.redisUrl" -}}
{{- if .Values.redis.enabled -}}
{{- printf "redis://:$(REDIS_PASSWORD)@%s-redis:6379/0" (include "hedgeops.fullname" .) -}}
{{- else -}}
{{- .Values.redis.url -}}
{{- end -}}
{{- end -}}

{{/* The Prometheus job label of the operator's metrics: prometheusRule.job, else the metrics Service's name (what
the chart's ServiceMonitor makes it). */}}
{{- define "hedgeops.metricsJob" -}}
{{- .Values.prometheusRule.job | default (printf "%s-metrics" (include "hedgeops.fullname" .)) -}}
{{- end -}}

{{/* {okx: url, binance: url} -> "binance=url,okx=url" (HEDGEOPS_EXCHANGE_URLS), sorted for stable renders. */}}
{{- define "hedgeops.exchangeUrls" -}}
{{- $parts := list -}}
{{- range $name := keys . | sortAlpha -}}
{{- $parts = append $parts (printf "%s=%s" $name (index $ $name)) -}}
{{- end -}}
{{- join "," $parts -}}
{{- end -}}


{{/* The Secret and key holding the bundled Redis's password: the user's (redis.auth.existingSecret) or the chart's. */}}
{{- define "hedgeops.redisAuthSecret" -}}
{{- default (printf "%s-redis-auth" (include "hedgeops.fullname" .)) .Values.redis.auth.existingSecret.name -}}
{{- end -}}

{{- define "hedgeops.redisAuthKey" -}}
{{- if .Values.redis.auth.existingSecret.name -}}
{{- .Values.redis.auth.existingSecret.key | default "password" -}}
{{- else -}}
password
{{- end -}}
{{- end -}}

{{/* The env var REDIS_PASSWORD from the password Secret (secretKeyRef only: the value is never rendered). */}}
{{- define "hedgeops.redisPasswordEnv" -}}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "hedgeops.redisAuthSecret" . }}
      key: {{ include "hedgeops.redisAuthKey" . }}
{{- end -}}
