package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/config"
	"github.com/gatehouse-idp/gatehouse/login/password"
)

// deployDir holds the deployment files: Dockerfile, systemd unit,
// Kubernetes manifests.
const deployDir = "deploy"

// The parts of Kubernetes objects the deployment tests read.
type (
	k8sObject struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name   string            `yaml:"name"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Data map[string]string `yaml:"data"` // ConfigMap
		Spec yaml.Node         `yaml:"spec"`
	}
	k8sDeploymentSpec struct {
		Replicas int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template k8sPodTemplate `yaml:"template"`
	}
	k8sJobSpec struct {
		Template k8sPodTemplate `yaml:"template"`
	}
	k8sPodTemplate struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec k8sPodSpec `yaml:"spec"`
	}
	k8sPodSpec struct {
		TerminationGracePeriodSeconds *int  `yaml:"terminationGracePeriodSeconds"`
		AutomountServiceAccountToken  *bool `yaml:"automountServiceAccountToken"`
		SecurityContext               struct {
			RunAsNonRoot   *bool             `yaml:"runAsNonRoot"`
			RunAsUser      *int              `yaml:"runAsUser"`
			FSGroup        *int              `yaml:"fsGroup"`
			SeccompProfile k8sSeccompProfile `yaml:"seccompProfile"`
		} `yaml:"securityContext"`
		Containers []k8sContainer `yaml:"containers"`
		Volumes    []k8sVolume    `yaml:"volumes"`
	}
	k8sSeccompProfile struct {
		Type string `yaml:"type"`
	}
	k8sContainer struct {
		Name    string   `yaml:"name"`
		Image   string   `yaml:"image"`
		Command []string `yaml:"command"`
		Args    []string `yaml:"args"`
		Ports   []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		Env             []k8sEnvVar `yaml:"env"`
		StartupProbe    *k8sProbe   `yaml:"startupProbe"`
		ReadinessProbe  *k8sProbe   `yaml:"readinessProbe"`
		LivenessProbe   *k8sProbe   `yaml:"livenessProbe"`
		SecurityContext struct {
			RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
				Add  []string `yaml:"add"`
			} `yaml:"capabilities"`
			SeccompProfile k8sSeccompProfile `yaml:"seccompProfile"`
		} `yaml:"securityContext"`
		Resources struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		VolumeMounts []k8sVolumeMount `yaml:"volumeMounts"`
	}
	k8sEnvVar struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	}
	k8sVolumeMount struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	}
	k8sKeyToPath struct {
		Key  string `yaml:"key"`
		Path string `yaml:"path"`
	}
	k8sProbe struct {
		HTTPGet *struct {
			Path string `yaml:"path"`
			Port any    `yaml:"port"`
		} `yaml:"httpGet"`
		PeriodSeconds    int `yaml:"periodSeconds"`
		FailureThreshold int `yaml:"failureThreshold"`
	}
	k8sVolume struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName  string         `yaml:"secretName"`
			Items       []k8sKeyToPath `yaml:"items"`
			DefaultMode *int           `yaml:"defaultMode"`
		} `yaml:"secret"`
	}
)

// k8sObjects reads every YAML document of the Kubernetes manifests, by
// file name.
func k8sObjects(t *testing.T) map[string][]k8sObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(deployDir, "kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	objs := map[string][]k8sObject{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var o k8sObject
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.Kind == "" || o.APIVersion == "" {
				t.Errorf("%s: a document without kind or apiVersion", f)
			}
			objs[filepath.Base(f)] = append(objs[filepath.Base(f)], o)
		}
	}
	return objs
}

// k8sFind returns the one object of kind among objs, its spec decoded into
// spec.
func k8sFind(t *testing.T, objs map[string][]k8sObject, kind string, spec any) k8sObject {
	t.Helper()
	var found []k8sObject
	for _, list := range objs {
		for _, o := range list {
			if o.Kind == kind {
				found = append(found, o)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d objects of kind %s in the manifests, want 1", len(found), kind)
	}
	if spec != nil {
		if err := found[0].Spec.Decode(spec); err != nil {
			t.Fatalf("%s spec: %v", kind, err)
		}
	}
	return found[0]
}

// loadDeployConfig loads a deployment's config file with Gatehouse's own
// loader, with no environment: every key must come from the file.
func loadDeployConfig(t *testing.T, name string, data []byte) *config.Config {
	t.Helper()
	f := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(f, nil)
	if err != nil {
		t.Fatalf("%s does not load:\n%v", name, err)
	}
	return cfg
}

// portOf returns the port of a host:port address.
func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// quantity parses a Kubernetes quantity of memory (bytes) or CPU
// (millicores), in the forms the manifests use.
func quantity(t *testing.T, s string) int64 {
	t.Helper()
	for suffix, mult := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "m": 1} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil {
				t.Fatalf("quantity %q: %v", s, err)
			}
			return v * mult
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("quantity %q: %v", s, err)
	}
	return v * 1000 // whole CPUs
}

// dockerfile is what the deployment tests read of the Dockerfile.
type dockerfile struct {
	args       map[string]string // ARG defaults before the first FROM
	froms      []string          // each FROM line's arguments
	runs       []string          // RUN commands (continuations joined)
	user       string
	entrypoint []string
	cmd        []string
	expose     []string
	volumes    []string
	env        map[string]string
	healthy    bool // has a HEALTHCHECK
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	d := dockerfile{args: map[string]string{}, env: map[string]string{}}
	var lines []string
	var cont strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if l, ok := strings.CutSuffix(line, "\\"); ok {
			cont.WriteString(l + " ")
			continue
		}
		cont.WriteString(line)
		lines = append(lines, cont.String())
		cont.Reset()
	}
	jsonArray := func(s string) []string {
		var v []string
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("Dockerfile: %q is not a JSON array (exec form): %v", s, err)
		}
		return v
	}
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "ARG":
			if len(d.froms) == 0 {
				k, v, _ := strings.Cut(rest, "=")
				d.args[k] = v
			}
		case "FROM":
			d.froms = append(d.froms, rest)
		case "RUN":
			d.runs = append(d.runs, rest)
		case "USER":
			d.user = rest
		case "ENTRYPOINT":
			d.entrypoint = jsonArray(rest)
		case "CMD":
			d.cmd = jsonArray(rest)
		case "EXPOSE":
			d.expose = append(d.expose, strings.Fields(rest)...)
		case "VOLUME":
			d.volumes = append(d.volumes, jsonArray(rest)...)
		case "ENV":
			k, v, _ := strings.Cut(rest, "=")
			d.env[k] = v
		case "HEALTHCHECK":
			d.healthy = true
		}
	}
	return d
}

// goModVersion returns go.mod's go line.
func goModVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(data); m != nil {
		return string(m[1])
	}
	t.Fatal("go.mod has no go line")
	return ""
}

// TestDeployDockerfile checks the image's recipe: a static binary built
// with go.mod's Go on an empty base, a numeric non-root user, the binary
// where the Kubernetes manifests run it, the config it names loading, and
// its port and volume matching that config.
func TestDeployDockerfile(t *testing.T) {
	t.Parallel()
	d := readDockerfile(t)
	if len(d.froms) < 2 {
		t.Fatalf("Dockerfile stages: %q, want a build stage and a run stage", d.froms)
	}
	build := strings.Fields(d.froms[0])
	if len(build) != 3 || !strings.EqualFold(build[1], "AS") {
		t.Fatalf("build stage FROM %q: want IMAGE AS NAME", d.froms[0])
	}
	image := strings.ReplaceAll(build[0], "${GO_VERSION}", d.args["GO_VERSION"])
	if want := goModVersion(t); !strings.HasPrefix(image, "golang:"+want+"-") && image != "golang:"+want {
		t.Errorf("build stage image %q, want golang:%s (go.mod's go line)", image, want)
	}
	if !slices.ContainsFunc(d.runs, func(r string) bool {
		return strings.Contains(r, "CGO_ENABLED=0 go build") && strings.Contains(r, "./cmd/gatehouse")
	}) {
		t.Errorf("no RUN builds ./cmd/gatehouse with CGO_ENABLED=0: %q", d.runs)
	}
	if run := d.froms[len(d.froms)-1]; run != "scratch" && !strings.Contains(run, "distroless/static") {
		t.Errorf("run stage FROM %q, want scratch or distroless static", run)
	}

	uid, gid, _ := strings.Cut(d.user, ":")
	u, err := strconv.Atoi(uid)
	if err != nil || u == 0 {
		t.Errorf("USER %q: want a numeric user other than root (runAsNonRoot cannot check a name)", d.user)
	}
	if gid != "" {
		if g, err := strconv.Atoi(gid); err != nil || g == 0 {
			t.Errorf("USER %q: want a numeric group other than root", d.user)
		}
	}
	if d.healthy {
		t.Error("HEALTHCHECK in an image without a shell or client to run it")
	}
	if len(d.entrypoint) != 1 || !path.IsAbs(d.entrypoint[0]) {
		t.Fatalf("ENTRYPOINT %q: want the binary's absolute path", d.entrypoint)
	}
	if len(d.cmd) != 3 || d.cmd[0] != "serve" || d.cmd[1] != "--config" {
		t.Fatalf("CMD %q: want serve --config FILE", d.cmd)
	}
	// CLI commands run in the container (docker exec) read the same file.
	if d.env["GATEHOUSE_CONFIG"] != d.cmd[2] {
		t.Errorf("ENV GATEHOUSE_CONFIG=%s, want %s, the file CMD serves with", d.env["GATEHOUSE_CONFIG"], d.cmd[2])
	}
	for k := range d.env {
		if k != "GATEHOUSE_CONFIG" && strings.HasPrefix(k, "GATEHOUSE_") {
			t.Errorf("ENV %s in the image would override the key in any config file mounted over the image's", k)
		}
	}

	// The config the image carries loads, and its port and data
	// directory are the image's.
	data, err := os.ReadFile(filepath.Join(deployDir, "container.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(d.runs, func(r string) bool {
		return strings.Contains(r, "cmd/gatehouse/deploy/container.yaml /out"+d.cmd[2])
	}) {
		t.Errorf("no RUN puts container.yaml at %s, the config CMD names", d.cmd[2])
	}
	cfg := loadDeployConfig(t, "container.yaml", data)
	host, port, _ := net.SplitHostPort(cfg.HTTP.Address)
	if host != "0.0.0.0" || !slices.Contains(d.expose, port) {
		t.Errorf("container.yaml listens on %s; EXPOSE %q: want 0.0.0.0 and an exposed port", cfg.HTTP.Address, d.expose)
	}
	driver, dbPath := cfg.DatabaseDriver()
	for _, p := range []string{dbPath, cfg.Secrets.KeyFile} {
		if driver != "sqlite" || !slices.Contains(d.volumes, path.Dir(p)) {
			t.Errorf("%s is not on a VOLUME (%q): it would be lost with the container", p, d.volumes)
		}
	}

	// The Kubernetes manifests run the same binary with the config
	// where the image's CMD names it.
	objs := k8sObjects(t)
	var dep k8sDeploymentSpec
	k8sFind(t, objs, "Deployment", &dep)
	var job k8sJobSpec
	k8sFind(t, objs, "Job", &job)
	for name, pod := range map[string]k8sPodSpec{"Deployment": dep.Template.Spec, "Job": job.Template.Spec} {
		for _, c := range pod.Containers {
			if !slices.Equal(c.Command, d.entrypoint) {
				t.Errorf("%s container %s: command %q, want the image's ENTRYPOINT %q", name, c.Name, c.Command, d.entrypoint)
			}
			if i := slices.Index(c.Args, "--config"); i < 0 || i+1 >= len(c.Args) || c.Args[i+1] != d.cmd[2] {
				t.Errorf("%s container %s: args %q, want --config %s", name, c.Name, c.Args, d.cmd[2])
			}
			if ru := pod.SecurityContext.RunAsUser; ru == nil || *ru != u {
				t.Errorf("%s does not run as the image's user %d", name, u)
			}
		}
	}
}

// TestDeployKubernetes checks the Kubernetes manifests: two replicas and a
// disruption budget, probes on /readyz and /healthz, a locked-down security
// context, the Secret mounted where the ConfigMap's config (which loads
// with Gatehouse's loader) expects the key file, a grace period that covers
// the shutdown delay and the drain, memory sized for argon2id, and a
// migrate Job running gatehouse migrate.
func TestDeployKubernetes(t *testing.T) {
	t.Parallel()
	objs := k8sObjects(t)
	var dep k8sDeploymentSpec
	k8sFind(t, objs, "Deployment", &dep)
	if dep.Replicas != 2 {
		t.Errorf("replicas %d, want 2", dep.Replicas)
	}
	labels := dep.Template.Metadata.Labels
	for k, v := range dep.Selector.MatchLabels {
		if labels[k] != v {
			t.Errorf("the Deployment's selector %s=%s does not match its pods' labels %v", k, v, labels)
		}
	}
	selects := func(kind string, sel map[string]string) {
		t.Helper()
		if len(sel) == 0 {
			t.Errorf("%s selects nothing", kind)
		}
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("%s selects %s=%s, which the pods (%v) lack", kind, k, v, labels)
			}
		}
	}
	var pdb struct {
		MinAvailable int `yaml:"minAvailable"`
		Selector     struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
	}
	k8sFind(t, objs, "PodDisruptionBudget", &pdb)
	if pdb.MinAvailable != 1 {
		t.Errorf("PodDisruptionBudget minAvailable %d, want 1", pdb.MinAvailable)
	}
	selects("PodDisruptionBudget", pdb.Selector.MatchLabels)
	var svc struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			TargetPort any `yaml:"targetPort"`
		} `yaml:"ports"`
	}
	k8sFind(t, objs, "Service", &svc)
	selects("Service", svc.Selector)

	// The config loads with Gatehouse's own loader, on PostgreSQL: two
	// replicas cannot share SQLite.
	cm := k8sFind(t, objs, "ConfigMap", nil)
	cfg := loadDeployConfig(t, "the ConfigMap's config.yaml", []byte(cm.Data["config.yaml"]))
	if driver, _ := cfg.DatabaseDriver(); driver != "postgres" {
		t.Errorf("database.url is %s: two replicas need PostgreSQL", driver)
	}
	if len(cfg.HTTP.TrustedProxies) == 0 {
		t.Error("http.trusted_proxies is empty: behind an ingress every client would share its address")
	}

	pod := dep.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http"] != portOf(t, cfg.HTTP.Address) {
		t.Errorf("container port http %d, but http.address is %s", ports["http"], cfg.HTTP.Address)
	}
	if cfg.Admin.Address != "off" && ports["admin"] != portOf(t, cfg.Admin.Address) {
		t.Errorf("container port admin %d, but admin.address is %s", ports["admin"], cfg.Admin.Address)
	}
	for _, p := range svc.Ports {
		if p.TargetPort != "http" {
			t.Errorf("the Service targets port %v, want http (never the admin listener)", p.TargetPort)
		}
	}

	// Probes.
	probe := func(name string, p *k8sProbe, path string) {
		t.Helper()
		if p == nil || p.HTTPGet == nil {
			t.Errorf("no %s probe", name)
			return
		}
		if p.HTTPGet.Path != path || p.HTTPGet.Port != "http" {
			t.Errorf("%s probe GET %s on port %v, want %s on http", name, p.HTTPGet.Path, p.HTTPGet.Port, path)
		}
	}
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("startup", c.StartupProbe, "/healthz")

	// Shutdown: SIGKILL comes after the delay with /readyz failing and
	// the drain, and the delay outlasts the readiness probe's notice.
	grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	if need := cfg.HTTP.ShutdownDelay.Duration + shutdownTimeout; grace < need {
		t.Errorf("terminationGracePeriodSeconds %v < http.shutdown_delay %v + drain %v", grace, cfg.HTTP.ShutdownDelay, shutdownTimeout)
	}
	if r := c.ReadinessProbe; r != nil {
		if notice := time.Duration(r.PeriodSeconds*max(1, r.FailureThreshold)) * time.Second; cfg.HTTP.ShutdownDelay.Duration < notice {
			t.Errorf("http.shutdown_delay %v is shorter than the readiness probe takes to notice (%v)", cfg.HTTP.ShutdownDelay, notice)
		}
	}

	// Security context, of the pod and the container.
	checkPodSecurity(t, "Deployment", pod)

	// The Secret's key file is mounted where secrets.key_file points.
	keyDir, keyName := path.Split(cfg.Secrets.KeyFile)
	keyDir = path.Clean(keyDir)
	mounted := false
	for _, m := range c.VolumeMounts {
		if m.MountPath != keyDir {
			continue
		}
		i := slices.IndexFunc(pod.Volumes, func(v k8sVolume) bool { return v.Name == m.Name })
		if i < 0 || pod.Volumes[i].Secret == nil {
			t.Errorf("%s is mounted from %q, not a Secret", keyDir, m.Name)
			continue
		}
		s := pod.Volumes[i].Secret
		if !slices.ContainsFunc(s.Items, func(it k8sKeyToPath) bool { return it.Path == keyName }) {
			t.Errorf("Secret %s mounted at %s has no item at %s", s.SecretName, keyDir, keyName)
			continue
		}
		if !m.ReadOnly {
			t.Errorf("the key's mount %s is writable", keyDir)
		}
		if mode := s.DefaultMode; mode == nil || *mode&0o007 != 0 || (*mode&0o040 != 0 && pod.SecurityContext.FSGroup == nil) {
			t.Errorf("the key's file mode %v: want no access for others, and group access only with fsGroup", mode)
		}
		mounted = true
	}
	if !mounted {
		t.Errorf("no Secret is mounted at %s, the directory of secrets.key_file", keyDir)
	}
	// And the config where the image's CMD reads it.
	if !slices.ContainsFunc(c.VolumeMounts, func(m k8sVolumeMount) bool {
		i := slices.IndexFunc(pod.Volumes, func(v k8sVolume) bool { return v.Name == m.Name })
		return i >= 0 && pod.Volumes[i].ConfigMap != nil && pod.Volumes[i].ConfigMap.Name == cm.Metadata.Name &&
			slices.Contains(c.Args, path.Join(m.MountPath, "config.yaml"))
	}) {
		t.Errorf("ConfigMap %s is not mounted where --config reads it (args %q)", cm.Metadata.Name, c.Args)
	}

	// Memory for argon2id: the gate lets HashMemoryBudget of hashes run
	// at once, on top of an idle server's 50 MiB (make bench: 43-47 MiB).
	const idle = 64 << 20
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	limit := quantity(t, c.Resources.Limits["memory"])
	request := quantity(t, c.Resources.Requests["memory"])
	goLimit := quantity(t, strings.TrimSuffix(env["GOMEMLIMIT"], "B")) // 320MiB
	if need := int64(idle + password.HashMemoryBudget); goLimit < need || request < need {
		t.Errorf("GOMEMLIMIT %d MiB, memory request %d MiB: want at least %d MiB (idle server + %d MiB of argon2id hashes)",
			goLimit>>20, request>>20, need>>20, password.HashMemoryBudget>>20)
	}
	if goLimit > limit-48<<20 {
		t.Errorf("GOMEMLIMIT %d MiB leaves less than 48 MiB below the memory limit %d MiB", goLimit>>20, limit>>20)
	}
	if quantity(t, c.Resources.Requests["cpu"]) < 500 || c.Resources.Limits["cpu"] == "" {
		t.Errorf("CPU request %q, limit %q: want at least 500m and a limit (GOMAXPROCS follows it)",
			c.Resources.Requests["cpu"], c.Resources.Limits["cpu"])
	}
	if !slices.ContainsFunc(c.Env, func(e k8sEnvVar) bool {
		return e.Name == "PGPASSWORD" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil
	}) {
		t.Error("PGPASSWORD does not come from a Secret")
	}

	// The migrate Job: the real command, the same image, config and
	// database password.
	var job k8sJobSpec
	k8sFind(t, objs, "Job", &job)
	jpod := job.Template.Spec
	checkPodSecurity(t, "migrate Job", jpod)
	for _, jc := range jpod.Containers {
		if jc.Image != c.Image {
			t.Errorf("the Job runs %s, the Deployment %s", jc.Image, c.Image)
		}
		if len(jc.Args) == 0 || jc.Args[0] != "migrate" {
			t.Errorf("the Job's args %q, want gatehouse migrate", jc.Args)
		} else if err := run(t.Context(), []string{jc.Args[0], "--help"}, &environ{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}); !errors.Is(err, flag.ErrHelp) {
			// A command answers --help; anything else is a usage error.
			t.Errorf("gatehouse %s is not a command: %v", jc.Args[0], err)
		}
	}
}

// checkPodSecurity checks the security context of pod and its containers.
func checkPodSecurity(t *testing.T, name string, pod k8sPodSpec) {
	t.Helper()
	sc := pod.SecurityContext
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("%s pod: want runAsNonRoot true and runAsUser other than 0", name)
	}
	if sc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("%s pod: seccompProfile %q, want RuntimeDefault", name, sc.SeccompProfile.Type)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s pod mounts a service account token it never uses", name)
	}
	for _, c := range pod.Containers {
		cs := c.SecurityContext
		switch {
		case cs.RunAsNonRoot == nil || !*cs.RunAsNonRoot:
			t.Errorf("%s container %s: runAsNonRoot not true", name, c.Name)
		case cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation:
			t.Errorf("%s container %s: allowPrivilegeEscalation not false", name, c.Name)
		case cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem:
			t.Errorf("%s container %s: readOnlyRootFilesystem not true", name, c.Name)
		case !slices.Equal(cs.Capabilities.Drop, []string{"ALL"}) || len(cs.Capabilities.Add) > 0:
			t.Errorf("%s container %s: capabilities drop %q add %q, want drop [ALL] only", name, c.Name, cs.Capabilities.Drop, cs.Capabilities.Add)
		case cs.SeccompProfile.Type != "RuntimeDefault":
			t.Errorf("%s container %s: seccompProfile %q, want RuntimeDefault", name, c.Name, cs.SeccompProfile.Type)
		}
		if c.Resources.Limits["memory"] == "" || c.Resources.Requests["memory"] == "" {
			t.Errorf("%s container %s: no memory request or limit", name, c.Name)
		}
	}
}

// TestDeployKustomize renders the Kubernetes manifests with kubectl
// kustomize, when kubectl is installed: every file it lists exists and
// parses, and the rendering holds the objects the tests above check.
func TestDeployKustomize(t *testing.T) {
	t.Parallel()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed")
	}
	out, err := exec.Command(kubectl, "kustomize", filepath.Join(deployDir, "kubernetes")).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v\n%s", err, out)
	}
	var kinds []string
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var o k8sObject
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, o.Kind)
	}
	slices.Sort(kinds)
	if want := []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Service"}; !slices.Equal(kinds, want) {
		t.Errorf("kubectl kustomize renders %q, want %q", kinds, want)
	}
}

// TestDeploySystemd checks the systemd unit and its config: the config
// loads, keeps its state in the unit's StateDirectory, and the stop
// timeout covers the shutdown delay and the drain; systemd-analyze, when
// installed, verifies the unit and rates its exposure.
func TestDeploySystemd(t *testing.T) {
	t.Parallel()
	unit, err := os.ReadFile(filepath.Join(deployDir, "gatehouse.service"))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	for line := range strings.Lines(string(unit)) {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = append(keys[k], v)
		}
	}
	one := func(k string) string {
		if len(keys[k]) != 1 {
			t.Errorf("%s is set %d times, want once", k, len(keys[k]))
			return ""
		}
		return keys[k][0]
	}
	exec0 := strings.Fields(one("ExecStart"))
	if len(exec0) != 4 || exec0[1] != "serve" || exec0[2] != "--config" {
		t.Fatalf("ExecStart %q: want BINARY serve --config FILE", exec0)
	}
	for k, want := range map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"CapabilityBoundingSet": "", "StateDirectory": "gatehouse", "StateDirectoryMode": "0700",
	} {
		if got := one(k); got != want {
			t.Errorf("%s=%s, want %s", k, got, want)
		}
	}
	if one("User") == "" && one("DynamicUser") != "yes" {
		t.Error("no User= or DynamicUser=: the service would run as root")
	}

	data, err := os.ReadFile(filepath.Join(deployDir, "gatehouse.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadDeployConfig(t, "gatehouse.yaml", data)
	_, dbPath := cfg.DatabaseDriver()
	for _, p := range []string{dbPath, cfg.Secrets.KeyFile} {
		// ProtectSystem=strict: only the StateDirectory is writable.
		if path.Dir(p) != "/var/lib/"+one("StateDirectory") {
			t.Errorf("%s is outside the StateDirectory, where the service cannot write", p)
		}
	}
	stop, err := time.ParseDuration(one("TimeoutStopSec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	if need := cfg.HTTP.ShutdownDelay.Duration + shutdownTimeout; stop < need {
		t.Errorf("TimeoutStopSec %v < http.shutdown_delay %v + drain %v", stop, cfg.HTTP.ShutdownDelay, shutdownTimeout)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit is not verified")
	}
	// verify checks that ExecStart's binary exists: point it at the one
	// the tests built.
	local := filepath.Join(t.TempDir(), "gatehouse.service")
	if err := os.WriteFile(local, bytes.Replace(unit, []byte(exec0[0]+" "), []byte(binary+" "), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", local).CombinedOutput()
	// verify exits 0 on keys it ignores; it says so, though.
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=true", local).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Logf("systemd-analyze security --offline is not supported here: %v\n%.300s", err, out)
		return
	}
	if level, _ := strconv.ParseFloat(string(m[1]), 64); level > 2 {
		t.Errorf("systemd-analyze security: exposure %s, want at most 2 (OK)\n%s", m[1], out)
	} else {
		t.Logf("systemd-analyze security: exposure %s", m[1])
	}
}

// TestDeployImage builds the image and runs it as the Dockerfile's README
// says: read-only root, data on a volume. It needs a working container
// runtime and GATEHOUSE_TEST_DOCKER=1 (building downloads the Go image and
// the modules); it is skipped otherwise.
func TestDeployImage(t *testing.T) {
	t.Parallel()
	if os.Getenv("GATEHOUSE_TEST_DOCKER") != "1" {
		t.Skip("GATEHOUSE_TEST_DOCKER=1 builds and runs the image")
	}
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Fatal("GATEHOUSE_TEST_DOCKER=1 but no docker command")
	}
	if out, err := exec.Command(docker, "info").CombinedOutput(); err != nil {
		t.Fatalf("GATEHOUSE_TEST_DOCKER=1 but docker does not work: %v\n%.500s", err, out)
	}
	dockerRun := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(docker, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	tag := "gatehouse-test:" + strings.ToLower(randomString())
	build := exec.Command(docker, "build", "-f", filepath.Join("cmd", "gatehouse", deployDir, "Dockerfile"), "-t", tag, ".")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(docker, "image", "rm", "-f", tag).Run() })
	if user := dockerRun("image", "inspect", "-f", "{{.Config.User}}", tag); user != readDockerfile(t).user {
		t.Errorf("the image runs as %q", user)
	}

	addr := freeAddr(t) // a loopback port of this machine
	volume := "gatehouse-test-" + strings.ToLower(randomString())
	id := dockerRun("run", "-d", "--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges",
		"-p", addr+":8080", "-v", volume+":/var/lib/gatehouse", "-e", "GATEHOUSE_ISSUER=http://"+addr, tag)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command(docker, "logs", id).CombinedOutput()
			t.Logf("container logs:\n%s", out)
		}
		exec.Command(docker, "rm", "-f", id).Run()
		exec.Command(docker, "volume", "rm", "-f", volume).Run()
	})
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container is not ready after 60 s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The CLI in the container reads the image's config: the database
	// on the volume, backed up onto it.
	dockerRun("exec", id, "gatehouse", "users", "list")
	if out := dockerRun("exec", id, "gatehouse", "backup", "/var/lib/gatehouse/backup.db"); !strings.Contains(out, "backed up /var/lib/gatehouse/gatehouse.db") {
		t.Errorf("gatehouse backup in the container printed %q", out)
	}
	// SIGTERM: the server drains and exits 0 (docker stop).
	dockerRun("stop", "-t", "45", id)
	if code := dockerRun("inspect", "-f", "{{.State.ExitCode}}", id); code != "0" {
		t.Errorf("the container exited %s after docker stop, want 0", code)
	}
}
