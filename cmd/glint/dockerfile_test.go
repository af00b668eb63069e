package main

import (
	"bufio"
	"context"
	"debug/elf"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/internal/testkit"
)

// No container engine runs here, so the Dockerfile is checked statically: what it promises
// (ports, health check, user, toolchain, packages) against the config, go.mod and the binary.

// instruction is one Dockerfile instruction: its keyword (upper case) and its arguments, with
// continuation lines joined.
type instruction struct {
	cmd, args string
}

// stage is one FROM and what follows it.
type stage struct {
	from  string
	instr []instruction
}

func (s stage) all(cmd string) []string {
	var out []string
	for _, in := range s.instr {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// parseDockerfile reads the stages of a Dockerfile (comments dropped, "\" continuations joined).
func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages []stage
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if body, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		cur.Reset()
		in := instruction{strings.ToUpper(cmd), strings.Join(strings.Fields(args), " ")}
		if in.cmd == "FROM" {
			stages = append(stages, stage{from: in.args})
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("%s: %s before the first FROM", path, in.cmd)
		}
		stages[len(stages)-1].instr = append(stages[len(stages)-1].instr, in)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(stages) < 2 {
		t.Fatalf("%s: %d stages, want a build and a runtime stage", path, len(stages))
	}
	return stages
}

// aptPackages lists the packages of a stage's apt-get install commands.
func aptPackages(s stage) []string {
	var pkgs []string
	for _, run := range s.all("RUN") {
		for _, cmd := range strings.Split(run, "&&") {
			f := strings.Fields(cmd)
			i := slices.Index(f, "install")
			if i < 0 || !slices.Contains(f[:i], "apt-get") {
				continue
			}
			for _, w := range f[i+1:] {
				if !strings.HasPrefix(w, "-") {
					pkgs = append(pkgs, w)
				}
			}
		}
	}
	return pkgs
}

func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, "../../Dockerfile")
	build, runtime := stages[0], stages[len(stages)-1]

	t.Run("toolchain matches go.mod", func(t *testing.T) {
		mod, err := os.ReadFile("../../go.mod")
		if err != nil {
			t.Fatal(err)
		}
		goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
		want := fmt.Sprintf("golang:%s-bookworm AS build", goVersion[1])
		if build.from != want {
			t.Errorf("build stage FROM %q, want %q (go.mod's exact Go, Debian bookworm)", build.from, want)
		}
		if !strings.HasPrefix(runtime.from, "debian:bookworm") {
			t.Errorf("runtime stage FROM %q, want Debian bookworm like the build stage (the same libav)", runtime.from)
		}
	})

	t.Run("EXPOSE covers the default ports", func(t *testing.T) {
		exposed := map[string]bool{}
		for _, e := range runtime.all("EXPOSE") {
			for _, p := range strings.Fields(e) {
				exposed[p] = true
			}
		}
		for _, want := range defaultPorts(t) {
			if !exposed[want] {
				t.Errorf("EXPOSE lacks %s (a default listener); has %v", want, exposed)
			}
		}
	})

	t.Run("HEALTHCHECK runs glint healthcheck", func(t *testing.T) {
		hc := runtime.all("HEALTHCHECK")
		if len(hc) != 1 || !strings.Contains(hc[0], `CMD ["/usr/local/bin/glint", "healthcheck"]`) {
			t.Errorf("HEALTHCHECK %q, want one, running the image's own binary: glint healthcheck", hc)
		}
		if !slices.ContainsFunc(runtime.all("COPY"), func(c string) bool { return strings.HasSuffix(c, " /usr/local/bin/glint") }) {
			t.Error("the runtime stage does not copy the binary to /usr/local/bin/glint")
		}
	})

	t.Run("USER is not root", func(t *testing.T) {
		users := runtime.all("USER")
		if len(users) == 0 {
			t.Fatal("no USER in the runtime stage: it would run as root")
		}
		user, _, _ := strings.Cut(users[len(users)-1], ":")
		if user == "root" || user == "0" {
			t.Errorf("USER %q: want a non-root user", users[len(users)-1])
		}
	})

	t.Run("libav packages match between stages", func(t *testing.T) {
		runtimePkgs := aptPackages(runtime)
		for _, dev := range aptPackages(build) {
			lib, ok := strings.CutSuffix(dev, "-dev")
			if !ok || !(strings.HasPrefix(lib, "libav") || strings.HasPrefix(lib, "libsw")) {
				continue
			}
			re := regexp.MustCompile("^" + regexp.QuoteMeta(lib) + `[0-9]+$`)
			if !slices.ContainsFunc(runtimePkgs, re.MatchString) {
				t.Errorf("build stage installs %s, the runtime stage no %sN", dev, lib)
			}
		}
	})

	t.Run("runtime packages hold every linked library", func(t *testing.T) {
		checkLinkedLibraries(t, aptPackages(runtime))
	})
}

// defaultPorts are the listeners of a config with no settings, as EXPOSE spells them.
func defaultPorts(t *testing.T) []string {
	t.Helper()
	cfg := config.Defaults()
	port := func(addr string) string {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("default address %q: %v", addr, err)
		}
		return p
	}
	ports := []string{port(cfg.HTTPAddr) + "/tcp", fmt.Sprintf("%d/udp", cfg.UDPPort)}
	if cfg.ICETCP {
		ports = append(ports, fmt.Sprintf("%d/tcp", cfg.UDPPort))
	}
	if cfg.RTMPAddr != "" {
		ports = append(ports, port(cfg.RTMPAddr)+"/tcp")
	}
	if cfg.SRTAddr != "" {
		ports = append(ports, port(cfg.SRTAddr)+"/udp")
	}
	return ports
}

// baseImagePackages are in debian:bookworm-slim already.
var baseImagePackages = []string{"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}

// checkLinkedLibraries builds the binary as the Dockerfile does and checks that each library
// it links directly (ELF DT_NEEDED) comes from a package the runtime stage installs or the
// base image has (their own dependencies come with them through apt). This machine runs the
// same Debian release as the image (bookworm), so its dpkg database says which package holds
// each library.
func checkLinkedLibraries(t *testing.T, runtimePkgs []string) {
	dpkg := testkit.RequireTool(t, "dpkg-query")
	osRelease, _ := os.ReadFile("/etc/os-release")
	if !strings.Contains(string(osRelease), "VERSION_CODENAME=bookworm") {
		t.Fatalf("this check needs a Debian bookworm host (the image's release); /etc/os-release:\n%s", osRelease)
	}
	bin := filepath.Join(t.TempDir(), "glint")
	if out, err := testkit.Command(context.Background(), 5*time.Minute, "go", "build", "-o", bin, "."); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil || len(libs) == 0 {
		t.Fatalf("linked libraries of the binary: %v %v", libs, err)
	}
	have := append(slices.Clone(runtimePkgs), baseImagePackages...)
	for _, lib := range libs {
		out, err := testkit.Command(context.Background(), 30*time.Second, dpkg, "-S", "*/"+lib)
		if err != nil {
			t.Errorf("%s: no package holds it (%v)", lib, err)
			continue
		}
		var owners []string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			pkgs, _, _ := strings.Cut(line, ": ")
			for _, p := range strings.Split(pkgs, ", ") {
				name, _, _ := strings.Cut(p, ":") // libavcodec59:amd64
				owners = append(owners, name)
			}
		}
		if !slices.ContainsFunc(owners, func(p string) bool { return slices.Contains(have, p) }) {
			t.Errorf("the binary links %s (package %v), which the runtime stage does not install", lib, owners)
		}
	}
	t.Logf("linked: %v", libs)
}
