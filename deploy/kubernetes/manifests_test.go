package kubernetes

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/tagnet/tagnet/config"
	"github.com/tagnet/tagnet/predictor/ort"
)

// The kustomizations: the two overlays to apply, and the merge Job.
var overlays = []string{"overlays/cpu", "overlays/cuda"}

const mergeDir = "merge"

// codec decodes manifests strictly: unknown and duplicate fields are
// errors.
var codec = func() runtime.Decoder {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		autoscalingv2.AddToScheme, policyv1.AddToScheme, monitoringv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, s, s, kjson.SerializerOptions{Yaml: true, Strict: true})
}()

// decode decodes one YAML document into its API type.
func decode(doc []byte) (runtime.Object, error) {
	obj, _, err := codec.Decode(doc, nil, nil)
	return obj, err
}

// documents splits a YAML file into its documents.
func documents(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	r := kyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if err != nil {
			break
		}
		if len(strings.TrimSpace(string(doc))) > 0 {
			out = append(out, doc)
		}
	}
	return out
}

// build runs kustomize on dir and returns every resource, decoded.
func build(t *testing.T, dir string) []runtime.Object {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []runtime.Object
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, err := decode(y)
		if err != nil {
			t.Fatalf("kustomize build %s: %s %s: %v", dir, r.GetKind(), r.GetName(), err)
		}
		objs = append(objs, obj)
	}
	return objs
}

// one returns the only object of type T among objs.
func one[T runtime.Object](t *testing.T, objs []runtime.Object) T {
	t.Helper()
	var found []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("%d objects of type %T, want 1", len(found), zero)
	}
	return found[0]
}

// Every file under deploy/kubernetes is a kustomization that decodes
// strictly into kustomize's type, a configuration file for tagnet, or
// manifests (resources and patches alike) that decode strictly into the
// Kubernetes API types; every kustomization builds. A misspelt field is
// refused, so the check can fail.
func TestManifestsDecodeStrictly(t *testing.T) {
	n := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		switch filepath.Base(path) {
		case "kustomization.yaml":
			var k types.Kustomization
			if err := yaml.UnmarshalStrict(b, &k); err != nil {
				t.Errorf("%s: %v", path, err)
			}
			if k.Kind != types.KustomizationKind || k.APIVersion != types.KustomizationVersion {
				t.Errorf("%s: %s/%s, want %s/%s", path, k.APIVersion, k.Kind, types.KustomizationVersion, types.KustomizationKind)
			}
			build(t, filepath.Dir(path))
		case "deploy.yaml":
			// tagnet's configuration: TestServeConfig.
		default:
			for i, doc := range documents(t, b) {
				if _, err := decode(doc); err != nil {
					t.Errorf("%s, document %d: %v", path, i+1, err)
				}
				n++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 8 {
		t.Errorf("only %d manifests found", n)
	}

	typo, err := os.ReadFile("base/serve-deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(typo), "terminationGracePeriodSeconds:", "terminationGracePeriodSecond:", 1)
	if _, err := decode([]byte(bad)); err == nil || !strings.Contains(err.Error(), "terminationGracePeriodSecond") {
		t.Errorf("a misspelt field decodes: %v", err)
	}
}

// podTemplates returns every pod template among objs, by kind/name.
func podTemplates(objs []runtime.Object) map[string]corev1.PodTemplateSpec {
	out := map[string]corev1.PodTemplateSpec{}
	for _, o := range objs {
		switch v := o.(type) {
		case *appsv1.Deployment:
			out["Deployment/"+v.Name] = v.Spec.Template
		case *batchv1.Job:
			out["Job/"+v.Name] = v.Spec.Template
		}
	}
	return out
}

// Every pod runs as the Dockerfile's user, non-root, with a read-only root
// file system, no privilege escalation and no capabilities, the image's own
// entrypoint, and resource requests.
func TestPodsRunAsTheImagesUser(t *testing.T) {
	uidText, gidText, _ := strings.Cut(dockerfileImage(t, "cpu").user, ":")
	uid, err := strconv.ParseInt(uidText, 10, 64)
	if err != nil || uid == 0 {
		t.Fatalf("Dockerfile USER %q: want a numeric, non-root uid", uidText)
	}
	for _, dir := range append(slices.Clone(overlays), mergeDir) {
		for name, tpl := range podTemplates(build(t, dir)) {
			where := dir + ": " + name
			sc := tpl.Spec.SecurityContext
			if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != uid {
				t.Errorf("%s: pod security context %+v, want runAsNonRoot and runAsUser %d (the Dockerfile's USER)", where, sc, uid)
			} else if gidText != "" && (sc.RunAsGroup == nil || strconv.FormatInt(*sc.RunAsGroup, 10) != gidText) {
				t.Errorf("%s: runAsGroup %v, the Dockerfile's group is %s", where, sc.RunAsGroup, gidText)
			}
			for _, c := range tpl.Spec.Containers {
				cs := c.SecurityContext
				if cs == nil || cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem ||
					cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation ||
					cs.Capabilities == nil || !slices.Equal(cs.Capabilities.Drop, []corev1.Capability{"ALL"}) {
					t.Errorf("%s: container %s: security context %+v", where, c.Name, cs)
				}
				if len(c.Command) > 0 {
					t.Errorf("%s: container %s replaces the image's entrypoint", where, c.Name)
				}
				if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
					t.Errorf("%s: container %s: resources %+v, want CPU and memory requests and a memory limit", where, c.Name, c.Resources)
				}
			}
		}
	}
}

// serveConfig returns the overlay's ConfigMap deploy.yaml written to a
// file, and the configuration tagnet loads from it alone.
func serveConfig(t *testing.T, objs []runtime.Object) (string, *config.Predict) {
	t.Helper()
	cm := one[*corev1.ConfigMap](t, objs)
	text, ok := cm.Data["deploy.yaml"]
	if !ok {
		t.Fatalf("ConfigMap %s has no deploy.yaml", cm.Name)
	}
	path := filepath.Join(t.TempDir(), "deploy.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := loadWithEnv(t, path, nil)
	return path, cfg
}

// loadWithEnv loads the configuration file at path the way tagnet-predict
// does, with exactly the TAGNET_* variables of env set.
func loadWithEnv(t *testing.T, path string, env map[string]string) *config.Predict {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "TAGNET_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for k, v := range env {
		if strings.HasPrefix(k, "TAGNET_") {
			t.Setenv(k, v)
		}
	}
	cfg, err := config.LoadPredict(path, nil)
	if err != nil {
		t.Fatalf("deploy.yaml does not pass tagnet's validation: %v", err)
	}
	return cfg
}

// containerEnv returns the environment the container starts with: the
// image's, then its own plain values.
func containerEnv(img image, c corev1.Container) map[string]string {
	env := map[string]string{}
	for k, v := range img.env {
		env[k] = v
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = expand(e.Value, env)
		}
	}
	return env
}

// container returns the named container of a pod template.
func container(t *testing.T, tpl corev1.PodTemplateSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range tpl.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

// portOf resolves a probe's or service's port (a number or a port name) in
// container c.
func portOf(t *testing.T, c corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	t.Fatalf("container %s has no port named %s", c.Name, p.StrVal)
	return 0
}

// mountOf returns the volume mount of c whose mount path holds path.
func mountOf(c corev1.Container, path string) (corev1.VolumeMount, bool) {
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(path, m.MountPath+"/") {
			return m, true
		}
	}
	return corev1.VolumeMount{}, false
}

// volume returns the pod's volume named name.
func volume(t *testing.T, spec corev1.PodSpec, name string) corev1.Volume {
	t.Helper()
	for _, v := range spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no volume %s", name)
	return corev1.Volume{}
}

// The service's pieces agree with each other, with the Dockerfile and with
// tagnet's configuration, in each overlay.
func TestServeConfig(t *testing.T) {
	for _, dir := range overlays {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			variant := filepath.Base(dir)
			objs := build(t, dir)
			path, cfg := serveConfig(t, objs)
			dep := one[*appsv1.Deployment](t, objs)
			c := container(t, dep.Spec.Template, "serve")

			// What deploy.yaml says is what runs: the image's and the
			// container's TAGNET_* variables, which take precedence over
			// the file, change nothing.
			img := dockerfileImage(t, variant)
			if got := loadWithEnv(t, path, containerEnv(img, c)); !reflect.DeepEqual(got, cfg) {
				t.Errorf("the image's and the container's environment change deploy.yaml's settings:\nfile alone: %+v\nas run:     %+v", cfg, got)
			}
			wantProviders := map[string][]string{"cpu": {"cpu"}, "cuda": {"cuda", "cpu"}}[variant]
			if !slices.Equal(ort.Names(cfg.Runtime.Providers), wantProviders) {
				t.Errorf("runtime.providers %v, want %v", cfg.Runtime.Providers, wantProviders)
			}
			if !strings.HasSuffix(c.Image, ":"+variant) {
				t.Errorf("image %s, want the %s variant", c.Image, variant)
			}
			gpus := c.Resources.Limits[corev1.ResourceName("nvidia.com/gpu")]
			if want := map[string]int64{"cpu": 0, "cuda": 1}[variant]; gpus.Value() != want {
				t.Errorf("nvidia.com/gpu limit %s, want %d", gpus.String(), want)
			}
			if cpu := c.Resources.Requests.Cpu().Value(); int64(cfg.Runtime.IntraOpThreads) != cpu {
				t.Errorf("runtime.intra_op_threads %d, the container requests %d CPUs", cfg.Runtime.IntraOpThreads, cpu)
			}

			// The config file is the mounted ConfigMap, named as generated.
			var configArg string
			for _, a := range c.Args {
				if v, ok := strings.CutPrefix(a, "--config="); ok {
					configArg = v
				}
			}
			if len(c.Args) == 0 || c.Args[0] != "serve" || configArg == "" {
				t.Fatalf("args %q, want serve --config=FILE", c.Args)
			}
			m, ok := mountOf(c, configArg)
			cm := one[*corev1.ConfigMap](t, objs)
			if !ok || configArg != m.MountPath+"/deploy.yaml" ||
				volume(t, dep.Spec.Template.Spec, m.Name).ConfigMap == nil ||
				volume(t, dep.Spec.Template.Spec, m.Name).ConfigMap.Name != cm.Name {
				t.Errorf("--config=%s is not deploy.yaml of the ConfigMap %s as mounted", configArg, cm.Name)
			}
			// The bearer token is the Secret's, mounted where deploy.yaml reads it.
			tokenFile := cfg.Server.Auth.BearerTokenFile
			m, ok = mountOf(c, tokenFile)
			if !ok {
				t.Fatalf("server.auth.bearer_token_file %s is on no volume", tokenFile)
			}
			sec := volume(t, dep.Spec.Template.Spec, m.Name).Secret
			if sec == nil || !slices.ContainsFunc(sec.Items, func(k corev1.KeyToPath) bool {
				return m.MountPath+"/"+k.Path == tokenFile
			}) {
				t.Errorf("server.auth.bearer_token_file %s is not a key of a Secret volume (%+v)", tokenFile, sec)
			}
			if _, ok := mountOf(c, cfg.Model.Path); !ok {
				t.Errorf("model.path %s is on no volume", cfg.Model.Path)
			}

			// One port: the server's, for the probes, the scrape and the Service.
			_, portText, err := net.SplitHostPort(cfg.Server.Listen)
			if err != nil {
				t.Fatal(err)
			}
			listen, _ := strconv.Atoi(portText)
			probes := map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe}
			for kind, p := range probes {
				if p == nil || p.HTTPGet == nil {
					t.Errorf("no HTTP %s probe", kind)
					continue
				}
				if got := portOf(t, c, p.HTTPGet.Port); int(got) != listen {
					t.Errorf("%s probe on port %d, the server listens on %d", kind, got, listen)
				}
			}
			if p := c.ReadinessProbe; p != nil && p.HTTPGet != nil && p.HTTPGet.Path != "/readyz" {
				t.Errorf("readiness probe %s, want /readyz", p.HTTPGet.Path)
			}
			if p := c.LivenessProbe; p != nil && p.HTTPGet != nil && p.HTTPGet.Path != "/healthz" {
				t.Errorf("liveness probe %s, want /healthz", p.HTTPGet.Path)
			}
			ann := dep.Spec.Template.Annotations
			if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(listen) || ann["prometheus.io/path"] != "/metrics" {
				t.Errorf("scrape annotations %v, want port %d and /metrics", ann, listen)
			}
			svc := one[*corev1.Service](t, objs)
			for _, sp := range svc.Spec.Ports {
				if got := portOf(t, c, sp.TargetPort); int(got) != listen {
					t.Errorf("Service port %s targets %d, the server listens on %d", sp.Name, got, listen)
				}
			}

			// Shutdown: the preStop pause, then at most shutdown_timeout of
			// draining, both inside the grace period.
			grace := dep.Spec.Template.Spec.TerminationGracePeriodSeconds
			var pause int64
			if l := c.Lifecycle; l == nil || l.PreStop == nil || l.PreStop.Sleep == nil || l.PreStop.Sleep.Seconds < 1 {
				t.Errorf("no preStop pause: %+v", c.Lifecycle)
			} else {
				pause = l.PreStop.Sleep.Seconds
			}
			if need := pause + int64(cfg.Server.ShutdownTimeout.Seconds()); grace == nil || *grace <= need {
				t.Errorf("terminationGracePeriodSeconds %s, want more than the preStop pause %ds + server.shutdown_timeout %s", show(grace), pause, cfg.Server.ShutdownTimeout)
			}

			// The Service, the autoscaler and the disruption budget find the
			// Deployment's pods.
			podLabels := labels.Set(dep.Spec.Template.Labels)
			if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) || len(svc.Spec.Selector) == 0 {
				t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, podLabels)
			}
			pdb := one[*policyv1.PodDisruptionBudget](t, objs)
			if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || !sel.Matches(podLabels) {
				t.Errorf("PodDisruptionBudget selector %v does not select the pods %v (%v)", pdb.Spec.Selector, podLabels, err)
			}
			hpa := one[*autoscalingv2.HorizontalPodAutoscaler](t, objs)
			ref := hpa.Spec.ScaleTargetRef
			if ref.Kind != "Deployment" || ref.Name != dep.Name || ref.APIVersion != "apps/v1" ||
				len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Resource == nil || hpa.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
				t.Errorf("HorizontalPodAutoscaler %+v, want CPU on Deployment %s", hpa.Spec, dep.Name)
			}
			if dep.Spec.Replicas != nil {
				t.Errorf("the Deployment sets replicas %d: the autoscaler owns the count, and each apply would reset it", *dep.Spec.Replicas)
			}
			if min := hpa.Spec.MinReplicas; min == nil || *min < 2 || pdb.Spec.MaxUnavailable == nil {
				t.Errorf("autoscaler minimum %s with disruption budget %+v: keep two pods, lose one at a time", show(min), pdb.Spec)
			}

			// The ServiceMonitor scrapes this Service's port with the token.
			b, err := os.ReadFile("monitoring/servicemonitor.yaml")
			if err != nil {
				t.Fatal(err)
			}
			obj, err := decode(b)
			if err != nil {
				t.Fatal(err)
			}
			sm := obj.(*monitoringv1.ServiceMonitor)
			if sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector); err != nil || !sel.Matches(labels.Set(svc.Labels)) {
				t.Errorf("ServiceMonitor selector %v does not select the Service %v", sm.Spec.Selector, svc.Labels)
			}
			for _, ep := range sm.Spec.Endpoints {
				if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) || ep.Path != "/metrics" {
					t.Errorf("ServiceMonitor endpoint %s %s is not the Service's metrics", ep.Port, ep.Path)
				}
				if a := ep.Authorization; a == nil || a.Credentials == nil || sec == nil || a.Credentials.Name != sec.SecretName {
					t.Errorf("ServiceMonitor endpoint without the Secret's bearer token: %+v", a)
				}
			}
		})
	}
}

var outputArg = regexp.MustCompile(`^--predict\.output=(.*)\$\(JOB_COMPLETION_INDEX\)(.*)$`)

// jobShape returns the Job's shard count from --shard=auto/N and its output
// path pattern (prefix and suffix around the index).
func jobShape(t *testing.T, c corev1.Container) (n int, prefix, suffix string) {
	t.Helper()
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--shard=auto/"); ok {
			var err error
			if n, err = strconv.Atoi(v); err != nil {
				t.Fatalf("--shard=auto/%s", v)
			}
		}
		if m := outputArg.FindStringSubmatch(a); m != nil {
			prefix, suffix = m[1], m[2]
		}
	}
	if n == 0 || prefix == "" {
		t.Fatalf("args %q: want --shard=auto/N and --predict.output=…$(JOB_COMPLETION_INDEX)…", c.Args)
	}
	return n, prefix, suffix
}

// The Indexed Job: one shard per completion index, each resuming its own
// output file; the merge Job reads exactly those files.
func TestPredictJob(t *testing.T) {
	mergeJob := one[*batchv1.Job](t, build(t, mergeDir))
	for _, dir := range overlays {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			objs := build(t, dir)
			var job *batchv1.Job
			for _, o := range objs {
				if j, ok := o.(*batchv1.Job); ok && j.Spec.CompletionMode != nil {
					job = j
				}
			}
			if job == nil || *job.Spec.CompletionMode != batchv1.IndexedCompletion {
				t.Fatal("no Indexed Job")
			}
			s := job.Spec
			c := container(t, s.Template, "predict")
			n, prefix, suffix := jobShape(t, c)
			if s.Completions == nil || int(*s.Completions) != n {
				t.Errorf("--shard=auto/%d, completions %s", n, show(s.Completions))
			}
			if s.Parallelism == nil || *s.Parallelism < 1 || s.BackoffLimitPerIndex == nil || *s.BackoffLimitPerIndex < 1 {
				t.Errorf("parallelism %s, backoffLimitPerIndex %s", show(s.Parallelism), show(s.BackoffLimitPerIndex))
			}
			if s.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("restartPolicy %s: a retried index must be a new pod", s.Template.Spec.RestartPolicy)
			}
			if len(c.Args) == 0 || c.Args[0] != "predict" || !slices.Contains(c.Args, "--resume") {
				t.Errorf("args %q: want predict … --resume", c.Args)
			}
			if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
				return e.Name == config.JobCompletionIndexEnv && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == indexAnnotation
			}) {
				t.Errorf("env %+v does not declare %s from the completion index annotation", c.Env, config.JobCompletionIndexEnv)
			}
			out, ok := mountOf(c, prefix)
			if !ok || out.ReadOnly {
				t.Errorf("the output %s… is on no writable volume", prefix)
			}
			for _, m := range c.VolumeMounts {
				if m.MountPath != out.MountPath && m.MountPath != "/tmp" && !m.ReadOnly {
					t.Errorf("volume %s at %s is writable: only the output needs to be", m.Name, m.MountPath)
				}
			}
			gpus := c.Resources.Limits[corev1.ResourceName("nvidia.com/gpu")]
			if want := map[string]int64{"cpu": 0, "cuda": 1}[filepath.Base(dir)]; gpus.Value() != want {
				t.Errorf("nvidia.com/gpu limit %s, want %d", gpus.String(), want)
			}

			// The merge Job reads part 0 … N-1 from the same volume.
			mc := container(t, mergeJob.Spec.Template, "merge")
			var want []string
			for i := range n {
				want = append(want, fmt.Sprintf("%s%d%s", prefix, i, suffix))
			}
			var files []string
			for _, a := range mc.Args[1:] {
				if !strings.HasPrefix(a, "-") {
					files = append(files, a)
				}
			}
			if mc.Args[0] != "merge" || !slices.Equal(files, want) {
				t.Errorf("merge Job args %q, want merge of %q", mc.Args, want)
			}
			mm, ok := mountOf(mc, want[0])
			if !ok || mm.MountPath != out.MountPath || mm.SubPath != out.SubPath ||
				volume(t, mergeJob.Spec.Template.Spec, mm.Name).PersistentVolumeClaim == nil ||
				volume(t, s.Template.Spec, out.Name).PersistentVolumeClaim == nil ||
				volume(t, mergeJob.Spec.Template.Spec, mm.Name).PersistentVolumeClaim.ClaimName != volume(t, s.Template.Spec, out.Name).PersistentVolumeClaim.ClaimName {
				t.Errorf("the merge Job reads %s from another volume than the Job writes", want[0])
			}
		})
	}
}

// show formats an optional field for a message.
func show[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}
