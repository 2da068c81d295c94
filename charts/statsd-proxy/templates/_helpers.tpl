{{/*
Named templates shared by every template of the chart. Each takes the root
context (.) unless its comment says otherwise. Object names are cut at 63
characters, the limit of a Kubernetes label value and of a DNS label.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "statsd-proxy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The object name prefix: fullnameOverride, else "<release>-<chart>", or the
release name alone when it already contains the chart name.
*/}}
{{- define "statsd-proxy.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The chart label value: "<chart>-<version>". */}}
{{- define "statsd-proxy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object, without the name and instance. */}}
{{- define "statsd-proxy.baseLabels" -}}
helm.sh/chart: {{ include "statsd-proxy.chart" . }}
app.kubernetes.io/part-of: {{ include "statsd-proxy.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Labels of objects that belong to the release as a whole (the StatsdCluster,
the dashboard). They carry no app.kubernetes.io/name, so that no component
selector matches them or anything an operator copies them to.
*/}}
{{- define "statsd-proxy.labels" -}}
{{ include "statsd-proxy.baseLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Object names of the two components: the proxy takes the release's full name,
so its Service is "<release>-statsd-proxy", and the operator adds "-operator".
The two get different app.kubernetes.io/name values so that their selectors,
which hold only the name and the instance, never match each other's pods.
*/}}
{{- define "statsd-proxy.proxy.fullname" -}}
{{- include "statsd-proxy.fullname" . }}
{{- end }}

{{- define "statsd-proxy.operator.fullname" -}}
{{- printf "%s-operator" (include "statsd-proxy.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{- define "statsd-proxy.proxy.name" -}}
{{- include "statsd-proxy.name" . }}
{{- end }}

{{- define "statsd-proxy.operator.name" -}}
{{- printf "%s-operator" (include "statsd-proxy.name" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{/* Selector labels of the proxy pods. */}}
{{- define "statsd-proxy.proxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "statsd-proxy.proxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selector labels of the operator pod. */}}
{{- define "statsd-proxy.operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "statsd-proxy.operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of the proxy's objects. */}}
{{- define "statsd-proxy.proxy.labels" -}}
{{ include "statsd-proxy.baseLabels" . }}
{{ include "statsd-proxy.proxy.selectorLabels" . }}
app.kubernetes.io/component: proxy
{{- end }}

{{/* Labels of the operator's objects, its RBAC included. */}}
{{- define "statsd-proxy.operator.labels" -}}
{{ include "statsd-proxy.baseLabels" . }}
{{ include "statsd-proxy.operator.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Name of the proxy's ServiceAccount. */}}
{{- define "statsd-proxy.proxy.serviceAccountName" -}}
{{- if .Values.proxy.serviceAccount.create }}
{{- default (include "statsd-proxy.proxy.fullname" .) .Values.proxy.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.proxy.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Name of the operator's ServiceAccount. */}}
{{- define "statsd-proxy.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "statsd-proxy.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference of the proxy: repository, then the digest or the tag. */}}
{{- define "statsd-proxy.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The image reference of the operator, falling back to the top-level image. */}}
{{- define "statsd-proxy.operator.image" -}}
{{- $repository := default .Values.image.repository .Values.operator.image.repository }}
{{- if and .Values.image.digest (not .Values.operator.image.repository) (not .Values.operator.image.tag) }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) .Values.operator.image.tag }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}
{{- end }}

{{/* Name of the StatsdCluster the proxy follows. */}}
{{- define "statsd-proxy.clusterName" -}}
{{- default .Values.statsdCluster.name .Values.proxy.ring.clusterName }}
{{- end }}

{{/* Namespace of the StatsdCluster the proxy follows. */}}
{{- define "statsd-proxy.ringNamespace" -}}
{{- default .Release.Namespace .Values.proxy.ring.namespace }}
{{- end }}

{{/* Name of the ring ConfigMap the operator writes for that StatsdCluster. */}}
{{- define "statsd-proxy.ringConfigMapName" -}}
{{- printf "%s-ring" (include "statsd-proxy.clusterName" .) }}
{{- end }}

{{/*
Namespaces the operator watches when operator.watch.scope is "namespaces", as a
JSON list (use with fromJsonArray): the listed ones, else the release namespace.
*/}}
{{- define "statsd-proxy.operator.watchNamespaces" -}}
{{- if .Values.operator.watch.namespaces }}
{{- toJson .Values.operator.watch.namespaces }}
{{- else }}
{{- toJson (list .Release.Namespace) }}
{{- end }}
{{- end }}

{{/* The operator's command-line arguments, one flag per line. */}}
{{- define "statsd-proxy.operator.args" -}}
- run
{{- if eq .Values.operator.watch.scope "cluster" }}
- --all-namespaces
{{- else }}
{{- range (include "statsd-proxy.operator.watchNamespaces" . | fromJsonArray) }}
- --namespace={{ . }}
{{- end }}
{{- end }}
- --liveness=http://0.0.0.0:{{ int .Values.operator.healthPort }}/healthz
{{- with .Values.operator.shardImages.statsd }}
- --statsd-image={{ . }}
{{- end }}
{{- with .Values.operator.shardImages.telegraf }}
- --telegraf-image={{ . }}
{{- end }}
- --log-format=json
- --log-level={{ .Values.operator.logLevel }}
{{- with .Values.operator.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end }}
