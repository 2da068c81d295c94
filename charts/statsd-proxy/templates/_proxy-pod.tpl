{{/* The proxy's command-line arguments, one flag per line. */}}
{{- define "statsd-proxy.proxy.args" -}}
- run
- --ring-configmap={{ include "statsd-proxy.ringNamespace" . }}/{{ include "statsd-proxy.ringConfigMapName" . }}
- --listen={{ .Values.proxy.listenHost }}:{{ int .Values.proxy.port }}
- --metrics-listen={{ .Values.proxy.listenHost }}:{{ int .Values.proxy.metricsPort }}
{{- if .Values.proxy.tcp }}
- --tcp
{{- end }}
- --unready-policy={{ .Values.proxy.unreadyPolicy }}
- --hash-key={{ .Values.proxy.hashKey }}
- --max-datagram={{ int64 .Values.proxy.maxDatagram }}
- --flush-interval-ms={{ int64 .Values.proxy.flushIntervalMs }}
- --receive-buffer={{ int64 .Values.proxy.receiveBuffer }}
- --workers={{ int64 .Values.proxy.workers }}
- --log-format=json
- --log-level={{ .Values.proxy.logLevel }}
{{- with .Values.proxy.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The proxy pod template, shared by the Deployment and the DaemonSet. */}}
{{- define "statsd-proxy.proxy.podTemplate" -}}
metadata:
  labels:
    {{- include "statsd-proxy.proxy.labels" . | nindent 4 }}
    {{- with .Values.proxy.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.proxy.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "statsd-proxy.proxy.serviceAccountName" . }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.proxy.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.proxy.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: proxy
      image: {{ include "statsd-proxy.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        {{- include "statsd-proxy.proxy.args" . | nindent 8 }}
      {{- with .Values.proxy.extraEnv }}
      env:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - name: statsd
          containerPort: {{ .Values.proxy.port }}
          protocol: UDP
        {{- if .Values.proxy.tcp }}
        - name: statsd-tcp
          containerPort: {{ .Values.proxy.port }}
          protocol: TCP
        {{- end }}
        - name: metrics
          containerPort: {{ .Values.proxy.metricsPort }}
          protocol: TCP
      livenessProbe:
        httpGet:
          path: /healthz
          port: metrics
        {{- toYaml .Values.proxy.livenessProbe | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: metrics
        {{- toYaml .Values.proxy.readinessProbe | nindent 8 }}
      resources:
        {{- toYaml .Values.proxy.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.containerSecurityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    # The root filesystem is read-only; Python and the worker processes get
    # a small writable /tmp.
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
  {{- with .Values.proxy.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.proxy.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.proxy.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.proxy.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
