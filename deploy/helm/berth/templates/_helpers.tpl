{{- define "berth.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "berth.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "berth.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "berth.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "berth.selectorLabels" -}}
app.kubernetes.io/name: {{ include "berth.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "berth.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "berth.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "berth.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "berth.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the chart creates for the values it was given. */}}
{{- define "berth.secretName" -}}
{{- include "berth.fullname" . }}
{{- end }}

{{/* The events token: from the values, else the one already installed, else a new one. */}}
{{- define "berth.eventsToken" -}}
{{- if .Values.events.token }}
{{- .Values.events.token }}
{{- else }}
{{- $old := lookup "v1" "Secret" .Release.Namespace (include "berth.secretName" .) }}
{{- if and $old $old.data (index $old.data .Values.events.existingSecretKey) }}
{{- index $old.data .Values.events.existingSecretKey | b64dec }}
{{- else }}
{{- randAlphaNum 48 }}
{{- end }}
{{- end }}
{{- end }}

{{/* Checks that would otherwise fail at run time, or lose data. */}}
{{- define "berth.validate" -}}
{{- if and (not .Values.registry.url) (gt (int .Values.replicaCount) 1) }}
{{- fail "registry.url is empty, so Berth runs its embedded registry on one volume: set replicaCount to 1 (see values-embedded.yaml) or point registry.url at your registry" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not (or .Values.database.url .Values.database.existingSecret)) }}
{{- fail "more than one replica needs a shared event store: set database.url or database.existingSecret (PostgreSQL)" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not (or .Values.cache.url .Values.cache.existingSecret)) }}
{{- fail "more than one replica needs a shared Redis for sign-in sessions: set cache.url or cache.existingSecret" }}
{{- end }}
{{- if and .Values.registry.username (not (or .Values.registry.password .Values.registry.existingSecret)) }}
{{- fail "registry.username needs registry.password or registry.existingSecret" }}
{{- end }}
{{- end }}
