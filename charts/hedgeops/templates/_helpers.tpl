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

{{/* Every object carries the six recommended app.kubernetes.io labels (name, instance, version, component, part-of,
managed-by; tests/test_chart_hygiene.py checks each rendered object). Pods get them too, without helm.sh/chart. Selectors use
fewer (hedgeops.selectorLabels, and Redis's instance + component): a Deployment's selector cannot change on upgrade.

  hedgeops.labels                      the operator's objects (component operator); takes the root context
  hedgeops.componentLabels (list $ c)  another component's objects (redis, metrics, webhook, crds, test)
  hedgeops.podLabels (list $ c)        a pod template's labels */}}
{{- define "hedgeops.podLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "hedgeops.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ index . 1 }}
app.kubernetes.io/part-of: hedgeops
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
{{- end -}}

{{- define "hedgeops.componentLabels" -}}
{{ include "hedgeops.podLabels" . }}
helm.sh/chart: {{ printf "%s-%s" (index . 0).Chart.Name (index . 0).Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "hedgeops.labels" -}}
{{ include "hedgeops.componentLabels" (list . "operator") }}
{{- end -}}

{{- define "hedgeops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hedgeops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* The bundled Redis's selector: component redis, never the operator's (whose selector adds the name). Kept as it
was first released: a Deployment's selector is immutable, a change would make `helm upgrade` fail. */}}
{{- define "hedgeops.redisSelectorLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end -}}

{{/* The `helm test` Pod's labels that the operator's NetworkPolicy admits. */}}
{{- define "hedgeops.testSelectorLabels" -}}
app.kubernetes.io/name: {{ include "hedgeops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
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
