package config

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const exampleConfig = "../../../../config.example.yaml"

// writeConfig writes content to config.yaml in a new temporary directory and
// returns its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// mapEnv returns a getenv function that reads env.
func mapEnv(env map[string]string) func(string) string {
	return func(name string) string { return env[name] }
}

func TestDefaultConfigValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestExampleConfigIsDefault(t *testing.T) {
	c, err := Load(exampleConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := Default(); !reflect.DeepEqual(c, want) {
		t.Errorf("%s loads as\n%+v\nwant Default()\n%+v", exampleConfig, c, want)
	}
}

// TestExampleConfigListsEveryKey checks that config.example.yaml sets every
// key, which TestExampleConfigIsDefault alone would not notice.
func TestExampleConfigListsEveryKey(t *testing.T) {
	data, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var got []string
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := joinConfigKey(prefix, n.Content[i].Value)
			if v := n.Content[i+1]; v.Kind == yaml.MappingNode {
				walk(v, key)
			} else {
				got = append(got, key)
			}
		}
	}
	walk(doc.Content[0], "")

	var want []string
	for key := range configLeaves(reflect.ValueOf(Default()).Elem(), "") {
		want = append(want, key)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s sets keys\n%v\nwant\n%v", exampleConfig, got, want)
	}
}

func TestConfigEnvNames(t *testing.T) {
	seen := make(map[string]string)
	for key := range configLeaves(reflect.ValueOf(Default()).Elem(), "") {
		name := configEnvName(key)
		if other, ok := seen[name]; ok {
			t.Errorf("keys %s and %s share the environment variable %s", other, key, name)
		}
		if name == "GATEHOUSE_CONFIG" {
			t.Errorf("key %s takes GATEHOUSE_CONFIG, the config file's variable", key)
		}
		seen[name] = key
	}
	for _, name := range []string{
		"GATEHOUSE_ISSUER",
		"GATEHOUSE_DATABASE_URL",
		"GATEHOUSE_HTTP_ADDRESS",
		"GATEHOUSE_HTTP_TRUSTED_PROXIES",
		"GATEHOUSE_MAIL_SMTP_HOST",
		"GATEHOUSE_LOCKOUT_MAX_ATTEMPTS",
		"GATEHOUSE_SECOND_FACTOR_EMAIL_CODE_TTL",
	} {
		if _, ok := seen[name]; !ok {
			t.Errorf("no key has the environment variable %s", name)
		}
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	tests := []struct {
		name string
		path func(t *testing.T) string
	}{
		{"no file", func(*testing.T) string { return "" }},
		{"empty file", func(t *testing.T) string { return writeConfig(t, "") }},
		{"only comments", func(t *testing.T) string { return writeConfig(t, "# nothing set\n") }},
		{"null document", func(t *testing.T) string { return writeConfig(t, "~\n") }},
		{"empty documents", func(t *testing.T) string { return writeConfig(t, "---\n---\n# end\n") }},
		{"empty sections and values", func(t *testing.T) string {
			return writeConfig(t, "http:\nmail:\n  smtp:\n    port:\nlockout: ~\n")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.path(t), mapEnv(nil))
			if err != nil {
				t.Fatal(err)
			}
			if want := Default(); !reflect.DeepEqual(c, want) {
				t.Errorf("Load = %+v, want %+v", c, want)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	const file = `
issuer: https://id.example.com
http:
  address: :8443
  trusted_proxies: [10.0.0.0/8, "192.0.2.1"]
database:
  url: postgres://gatehouse:secret@db:5432/gatehouse?sslmode=verify-full
mail:
  smtp: {host: smtp.example.com, port: 465, tls: tls}
lockout:
  max_attempts: 5
  block_duration: &block 15m
session:
  lifetime: *block
  idle_timeout: 10m
`
	c, err := Load(writeConfig(t, file), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Issuer = "https://id.example.com"
	want.HTTP.Address = ":8443"
	want.HTTP.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.1"}
	want.Database.URL = "postgres://gatehouse:secret@db:5432/gatehouse?sslmode=verify-full"
	want.Mail.SMTP.Host = "smtp.example.com"
	want.Mail.SMTP.Port = 465
	want.Mail.SMTP.TLS = "tls"
	want.Lockout.MaxAttempts = 5
	want.Lockout.BlockDuration = Duration{15 * time.Minute}
	want.Session.Lifetime = Duration{15 * time.Minute}
	want.Session.IdleTimeout = Duration{10 * time.Minute}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load = %+v\nwant %+v", c, want)
	}
}

func TestLoadConfigEnv(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		env    map[string]string
		modify func(c *Config)
	}{
		{
			name:   "string",
			env:    map[string]string{"GATEHOUSE_DATABASE_URL": "postgres://db/gatehouse?sslmode=verify-full"},
			modify: func(c *Config) { c.Database.URL = "postgres://db/gatehouse?sslmode=verify-full" },
		},
		{
			name:   "nested string",
			env:    map[string]string{"GATEHOUSE_MAIL_SMTP_HOST": "smtp.example.com"},
			modify: func(c *Config) { c.Mail.SMTP.Host = "smtp.example.com" },
		},
		{
			name: "mail outbox",
			env:  map[string]string{"GATEHOUSE_MAIL_OUTBOX_DIR": "/var/tmp/gatehouse-mail", "GATEHOUSE_MAIL_CODE_IN_SUBJECT": "true"},
			modify: func(c *Config) {
				c.Mail.OutboxDir = "/var/tmp/gatehouse-mail"
				c.Mail.CodeInSubject = true
			},
		},
		{
			name:   "int",
			env:    map[string]string{"GATEHOUSE_LOCKOUT_MAX_ATTEMPTS": "7"},
			modify: func(c *Config) { c.Lockout.MaxAttempts = 7 },
		},
		{
			name:   "int64",
			env:    map[string]string{"GATEHOUSE_HTTP_MAX_BODY_BYTES": "1048576"},
			modify: func(c *Config) { c.HTTP.MaxBodyBytes = 1 << 20 },
		},
		{
			name:   "duration",
			env:    map[string]string{"GATEHOUSE_SECOND_FACTOR_EMAIL_CODE_TTL": "45s"},
			modify: func(c *Config) { c.SecondFactor.EmailCodeTTL = Duration{45 * time.Second} },
		},
		{
			name:   "list",
			env:    map[string]string{"GATEHOUSE_HTTP_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1,,"},
			modify: func(c *Config) { c.HTTP.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.1"} },
		},
		{
			name: "insecure hosts",
			env: map[string]string{
				"GATEHOUSE_DATABASE_URL":             "postgres://db/gatehouse",
				"GATEHOUSE_DATABASE_INSECURE_HOSTS":  "db",
				"GATEHOUSE_MAIL_SMTP_HOST":           "relay.internal",
				"GATEHOUSE_MAIL_SMTP_TLS":            "none",
				"GATEHOUSE_MAIL_SMTP_INSECURE_HOSTS": "relay.internal, 10.0.0.25",
			},
			modify: func(c *Config) {
				c.Database.URL = "postgres://db/gatehouse"
				c.Database.InsecureHosts = []string{"db"}
				c.Mail.SMTP.Host = "relay.internal"
				c.Mail.SMTP.TLS = "none"
				c.Mail.SMTP.InsecureHosts = []string{"relay.internal", "10.0.0.25"}
			},
		},
		{
			name: "env wins over file",
			file: "issuer: https://file.example.com\nlog:\n  level: debug\n",
			env:  map[string]string{"GATEHOUSE_ISSUER": "https://env.example.com"},
			modify: func(c *Config) {
				c.Issuer = "https://env.example.com"
				c.Log.Level = "debug"
			},
		},
		{
			name: "config path and unknown variables are ignored",
			env: map[string]string{
				"GATEHOUSE_CONFIG": "/etc/gatehouse.yaml",
				"GATEHOUSE_BOGUS":  "1",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeConfig(t, tt.file)
			}
			c, err := Load(path, mapEnv(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			if tt.modify != nil {
				tt.modify(want)
			}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("Load = %+v\nwant %+v", c, want)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		env    map[string]string
		want   []string // substrings of the error
		absent []string // must not appear in the error
	}{
		{
			name: "unknown top-level key",
			file: "issuer: https://id.example.com\nbogus: 1\n",
			want: []string{"config.yaml:2: bogus: unknown key"},
		},
		{
			name: "unknown nested key",
			file: "http:\n  address: :8080\n  adress: :9090\n",
			want: []string{"config.yaml:3: http.adress: unknown key (known here: address, trusted_proxies, max_body_bytes, shutdown_delay)"},
		},
		{
			name: "unknown key in flow mapping",
			file: "mail:\n  smtp: {host: smtp.example.com, post: 25}\n",
			want: []string{"config.yaml:2: mail.smtp.post: unknown key"},
		},
		{
			name: "key set twice",
			file: "log:\n  level: info\n  level: debug\n",
			want: []string{"config.yaml:3: log.level: set twice (first at line 2)"},
		},
		{
			name: "section not a mapping",
			file: "lockout: 3\n",
			want: []string{"config.yaml:1: lockout: must be a mapping"},
		},
		{
			name: "document not a mapping",
			file: "- issuer\n",
			want: []string{"config.yaml:1: must be a mapping"},
		},
		{
			name: "bad duration",
			file: "lockout:\n  block_duration: ten minutes\n",
			want: []string{`config.yaml:2: lockout.block_duration: invalid duration "ten minutes"`},
		},
		{
			name: "duration without unit",
			file: "tokens:\n  access_token_ttl: 900\n",
			want: []string{`tokens.access_token_ttl: invalid duration "900"`},
		},
		{
			name: "bad integer",
			file: "lockout:\n  max_attempts: three\n",
			want: []string{`config.yaml:2: lockout.max_attempts: invalid integer "three"`},
		},
		{
			name: "list for a string",
			file: "issuer: [https://id.example.com]\n",
			want: []string{"config.yaml:1: issuer: must be a single value"},
		},
		{
			name: "string for a list",
			file: "http:\n  trusted_proxies: 10.0.0.0/8\n",
			want: []string{"config.yaml:2: http.trusted_proxies: must be a list"},
		},
		{
			name: "YAML syntax",
			file: "issuer: [\n",
			want: []string{"config.yaml: yaml:"},
		},
		{
			name: "two documents",
			file: "issuer: https://a.example.com\n---\nissuer: https://b.example.com\n",
			want: []string{"config.yaml:2: only one YAML document"},
		},
		{
			name: "issuer not a URL",
			file: "issuer: id.example.com\n",
			want: []string{`issuer: must be an absolute URL such as https://id.example.com, not "id.example.com"`},
		},
		{
			name: "http issuer not on localhost",
			file: "issuer: http://id.example.com\n",
			want: []string{"issuer: must use https (http is allowed only for localhost)"},
		},
		{
			name: "bad CIDR",
			file: "http:\n  trusted_proxies: [10.0.0.0/8, 10.0.0.0/33]\n",
			want: []string{`http.trusted_proxies: "10.0.0.0/33" is not a CIDR`},
		},
		{
			name:   "bad database URL scheme",
			file:   "database:\n  url: mysql://gatehouse:hunter2@db/gatehouse\n",
			want:   []string{"database.url: must be sqlite:PATH or a postgres://"},
			absent: []string{"hunter2"},
		},
		{
			name: "no SMTP host and no outbox",
			file: "mail:\n  outbox_dir: \"\"\n",
			want: []string{"mail.outbox_dir: must be set when mail.smtp.host is empty"},
		},
		{
			name: "bad TLS mode",
			file: "mail:\n  smtp:\n    tls: ssl\n",
			want: []string{`mail.smtp.tls: must be one of starttls, tls, none, not "ssl"`},
		},
		{
			name: "bad port",
			file: "mail:\n  smtp: {port: 70000}\n",
			want: []string{"mail.smtp.port: must be from 1 to 65535, not 70000"},
		},
		{
			name: "bad mail.from",
			file: "mail:\n  from: Gatehouse\n",
			want: []string{`mail.from: must be an address such as "Gatehouse <no-reply@example.com>", not "Gatehouse"`},
		},
		{
			name: "bad env int",
			env:  map[string]string{"GATEHOUSE_LOCKOUT_MAX_ATTEMPTS": "three"},
			want: []string{`GATEHOUSE_LOCKOUT_MAX_ATTEMPTS: lockout.max_attempts: invalid integer "three"`},
		},
		{
			name: "bad env duration",
			env:  map[string]string{"GATEHOUSE_SESSION_LIFETIME": "a day"},
			want: []string{`GATEHOUSE_SESSION_LIFETIME: session.lifetime: invalid duration "a day"`},
		},
		{
			name: "bad env value checked by Validate",
			env:  map[string]string{"GATEHOUSE_HTTP_TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"},
			want: []string{`http.trusted_proxies: "proxy.local" is not a CIDR`},
		},
		{
			name: "every file error at once",
			file: "bogus: 1\nlockout:\n  block_duration: soon\n  max_attempts: x\n",
			want: []string{
				"config.yaml:1: bogus: unknown key",
				"config.yaml:3: lockout.block_duration: invalid duration",
				"config.yaml:4: lockout.max_attempts: invalid integer",
			},
		},
		{
			name: "every validation error at once",
			file: "issuer: http://id.example.com\nmail:\n  smtp: {port: 0, tls: ssl}\n",
			want: []string{"issuer: must use https", "mail.smtp.port:", "mail.smtp.tls:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeConfig(t, tt.file)
			}
			c, err := Load(path, mapEnv(tt.env))
			if err == nil {
				t.Fatalf("Load = %+v, want an error", c)
			}
			msg := strings.ReplaceAll(err.Error(), filepath.Dir(path)+string(filepath.Separator), "")
			for _, want := range tt.want {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q\ndoes not contain %q", msg, want)
				}
			}
			for _, absent := range tt.absent {
				if strings.Contains(msg, absent) {
					t.Errorf("error %q\ncontains %q", msg, absent)
				}
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	_, err := Load(path, nil)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Load(%q) error = %v, want one naming the path", path, err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *Config)
		want   string // substring of the error; "" if valid
	}{
		{"https issuer", func(c *Config) { c.Issuer = "https://id.example.com" }, ""},
		{"issuer with path", func(c *Config) { c.Issuer = "https://example.com/id" }, ""},
		{"issuer with a deeper path", func(c *Config) { c.Issuer = "https://example.com/sso/id-1.v2_~x" }, ""},
		{"issuer path with an escape", func(c *Config) { c.Issuer = "https://example.com/i%64" }, `issuer: the path "/i%64" must be segments`},
		{"issuer path with a space", func(c *Config) { c.Issuer = "https://example.com/a%20b" }, "issuer: the path"},
		{"issuer path with ..", func(c *Config) { c.Issuer = "https://example.com/a/../b" }, "issuer: the path"},
		{"issuer path with //", func(c *Config) { c.Issuer = "https://example.com/a//b" }, "issuer: the path"},
		{"issuer path with a colon", func(c *Config) { c.Issuer = "https://example.com/a:b" }, "issuer: the path"},
		{"http issuer on 127.0.0.1", func(c *Config) { c.Issuer = "http://127.0.0.1:8080" }, ""},
		{"http issuer on ::1", func(c *Config) { c.Issuer = "http://[::1]:8080" }, ""},
		{"empty issuer", func(c *Config) { c.Issuer = "" }, "issuer: must be an absolute URL"},
		{"issuer scheme", func(c *Config) { c.Issuer = "ftp://id.example.com" }, "issuer: must be an https URL"},
		{"issuer query", func(c *Config) { c.Issuer = "https://id.example.com?x=1" }, "issuer: must not have a query"},
		{"issuer fragment", func(c *Config) { c.Issuer = "https://id.example.com#x" }, "issuer: must not have a fragment"},
		{"issuer user", func(c *Config) { c.Issuer = "https://u:p@id.example.com" }, "issuer: must not contain a user"},
		{"issuer slash", func(c *Config) { c.Issuer = "https://id.example.com/" }, "issuer: must not end with a slash"},
		{"any address", func(c *Config) { c.HTTP.Address = ":8080" }, ""},
		{"random port", func(c *Config) { c.HTTP.Address = "127.0.0.1:0" }, ""},
		{"address without port", func(c *Config) { c.HTTP.Address = "localhost" }, "http.address: must be host:port"},
		{"address port", func(c *Config) { c.HTTP.Address = "localhost:http" }, "http.address: port must be a number"},
		{"proxies", func(c *Config) { c.HTTP.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.1", "2001:db8::/32", "::1"} }, ""},
		{"proxy with zone", func(c *Config) { c.HTTP.TrustedProxies = []string{"fe80::1%eth0"} }, "http.trusted_proxies:"},
		{"body size", func(c *Config) { c.HTTP.MaxBodyBytes = 0 }, "http.max_body_bytes: must be positive"},
		{"shutdown delay at 1m", func(c *Config) { c.HTTP.ShutdownDelay = Duration{time.Minute} }, ""},
		{"shutdown delay over 1m", func(c *Config) { c.HTTP.ShutdownDelay = Duration{time.Minute + time.Second} },
			"http.shutdown_delay: must be at most 1m0s (a few health-check intervals), not 1m1s"},
		{"shutdown delay of a day", func(c *Config) { c.HTTP.ShutdownDelay = Duration{24 * time.Hour} },
			"http.shutdown_delay: must be at most 1m0s"},
		{"negative shutdown delay", func(c *Config) { c.HTTP.ShutdownDelay = Duration{-time.Second} }, "http.shutdown_delay: must be positive"},
		{"postgresql URL", func(c *Config) { c.Database.URL = "postgresql://db/gatehouse?sslmode=verify-full" }, ""},
		{"postgres without sslmode", func(c *Config) { c.Database.URL = "postgres://u:hunter2@db.example.com/gatehouse" },
			"database.url: the link to db.example.com is not verified TLS: add sslmode=verify-full to the URL, or list db.example.com in database.insecure_hosts"},
		{"postgres sslmode=require", func(c *Config) { c.Database.URL = "postgres://db.example.com/gatehouse?sslmode=require" }, "database.url: the link to db.example.com is not verified TLS"},
		{"postgres sslmode=verify-ca", func(c *Config) { c.Database.URL = "postgres://db.example.com/gatehouse?sslmode=verify-ca" }, "database.url: the link to db.example.com"},
		{"postgres sslmode=disable", func(c *Config) { c.Database.URL = "postgres://10.1.2.3/gatehouse?sslmode=disable" }, "database.url: the link to 10.1.2.3"},
		{"postgres second host", func(c *Config) {
			c.Database.URL = "postgres://127.0.0.1:5432,db2.example.com:5432/gatehouse?sslmode=disable"
		}, "database.url: the link to db2.example.com"},
		{"postgres host parameter", func(c *Config) { c.Database.URL = "postgres:///gatehouse?host=db.example.com" }, "database.url: the link to db.example.com"},
		{"postgres listed", func(c *Config) {
			c.Database.URL = "postgres://db.example.com/gatehouse?sslmode=require"
			c.Database.InsecureHosts = []string{"DB.example.com"}
		}, ""},
		{"postgres other host listed", func(c *Config) {
			c.Database.URL = "postgres://db.example.com/gatehouse?sslmode=require"
			c.Database.InsecureHosts = []string{"db2.example.com"}
		}, "database.url: the link to db.example.com"},
		{"postgres loopback", func(c *Config) { c.Database.URL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable" }, ""},
		{"postgres localhost", func(c *Config) { c.Database.URL = "postgres://localhost/test" }, ""},
		{"postgres ::1", func(c *Config) { c.Database.URL = "postgres://[::1]:5432/test?sslmode=disable" }, ""},
		{"postgres unix socket", func(c *Config) { c.Database.URL = "postgres:///gatehouse?host=/run/postgresql" }, ""},
		{"postgres password not shown", func(c *Config) { c.Database.URL = "postgres://u:hunter2@db.example.com/gatehouse?sslmode=bogus" }, "database.url:"},
		{"bad database insecure host", func(c *Config) { c.Database.InsecureHosts = []string{"db:5432"} }, `database.insecure_hosts: "db:5432" is not a host name`},
		{"empty sqlite path", func(c *Config) { c.Database.URL = "sqlite:" }, "database.url:"},
		{"key file", func(c *Config) { c.Secrets.KeyFile = "" }, "secrets.key_file: must be set"},
		{"bare mail.from", func(c *Config) { c.Mail.From = "no-reply@example.com" }, ""},
		{"TLS none", func(c *Config) { c.Mail.SMTP.TLS = "none" }, ""},
		{"TLS none to loopback", func(c *Config) { c.Mail.SMTP.Host, c.Mail.SMTP.TLS = "127.0.0.1", "none" }, ""},
		{"TLS none to localhost", func(c *Config) { c.Mail.SMTP.Host, c.Mail.SMTP.TLS = "localhost", "none" }, ""},
		{"TLS none to ::1", func(c *Config) { c.Mail.SMTP.Host, c.Mail.SMTP.TLS = "::1", "none" }, ""},
		{"TLS none to remote", func(c *Config) { c.Mail.SMTP.Host, c.Mail.SMTP.TLS = "smtp.example.com", "none" },
			"mail.smtp.tls: none would send mail, one-time codes included, unencrypted to smtp.example.com: use starttls or tls, or list smtp.example.com in mail.smtp.insecure_hosts"},
		{"TLS none to listed", func(c *Config) {
			c.Mail.SMTP.Host, c.Mail.SMTP.TLS = "relay.internal", "none"
			c.Mail.SMTP.InsecureHosts = []string{"relay.internal"}
		}, ""},
		{"TLS none to other listed", func(c *Config) {
			c.Mail.SMTP.Host, c.Mail.SMTP.TLS = "smtp.example.com", "none"
			c.Mail.SMTP.InsecureHosts = []string{"relay.internal"}
		}, "mail.smtp.tls: none would send mail"},
		{"starttls to remote", func(c *Config) { c.Mail.SMTP.Host = "smtp.example.com" }, ""},
		{"bad SMTP insecure host", func(c *Config) { c.Mail.SMTP.InsecureHosts = []string{"smtp://relay"} }, `mail.smtp.insecure_hosts: "smtp://relay" is not a host name`},
		{"zero duration", func(c *Config) { c.Lockout.BlockDuration = Duration{} }, "lockout.block_duration: must be positive"},
		{"negative duration", func(c *Config) { c.SecondFactor.EmailResendCooldown = Duration{-time.Second} }, "second_factor.email_resend_cooldown: must be positive"},
		{"TOTP issuer colon", func(c *Config) { c.SecondFactor.TOTPIssuer = "Acme: SSO" }, "second_factor.totp_issuer: must not contain a colon"},
		{"lockout attempts", func(c *Config) { c.Lockout.MaxAttempts = 0 }, "lockout.max_attempts: must be at least 1"},
		{"password attempts", func(c *Config) { c.Password.MaxAttempts = 0 }, "password.max_attempts: must be at least 1"},
		{"password IP attempts", func(c *Config) { c.Password.IPMaxAttempts = -1 }, "password.ip_max_attempts: must be at least 1"},
		{"idle timeout", func(c *Config) { c.Session.IdleTimeout = Duration{13 * time.Hour} }, "session.idle_timeout: must not exceed session.lifetime (12h0m0s)"},
		{"email code at 10m", func(c *Config) { c.SecondFactor.EmailCodeTTL = Duration{10 * time.Minute} }, ""},
		{"email code over 10m", func(c *Config) { c.SecondFactor.EmailCodeTTL = Duration{10*time.Minute + time.Second} },
			"second_factor.email_code_ttl: must be at most 10m0s, not 10m1s"},
		{"email code of a day", func(c *Config) { c.SecondFactor.EmailCodeTTL = Duration{24 * time.Hour} },
			"second_factor.email_code_ttl: must be at most 10m0s"},
		{"resend cooldown as long as the code", func(c *Config) { c.SecondFactor.EmailResendCooldown = Duration{time.Minute} }, ""},
		{"resend cooldown over the code's life", func(c *Config) { c.SecondFactor.EmailResendCooldown = Duration{61 * time.Second} },
			"second_factor.email_resend_cooldown: must not exceed second_factor.email_code_ttl (1m0s), not 1m1s"},
		{"auth code at 60s", func(c *Config) { c.Tokens.AuthCodeTTL = Duration{time.Minute} }, ""},
		{"auth code over 60s", func(c *Config) { c.Tokens.AuthCodeTTL = Duration{61 * time.Second} }, "tokens.auth_code_ttl: must be at most 60s"},
		{"ES256", func(c *Config) { c.Keys.Algorithm = "ES256" }, ""},
		{"algorithm", func(c *Config) { c.Keys.Algorithm = "HS256" }, `keys.algorithm: must be one of RS256, ES256, EdDSA, not "HS256"`},
		{"log level", func(c *Config) { c.Log.Level = "trace" }, `log.level: must be one of debug, info, warn, error, not "trace"`},
		{"log format", func(c *Config) { c.Log.Format = "logfmt" }, `log.format: must be one of json, text, not "logfmt"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.modify(c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Errorf("Validate() = nil, want an error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("Validate() = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestConfigTrustedProxies(t *testing.T) {
	c := Default()
	if got := c.TrustedProxies(); len(got) != 0 {
		t.Errorf("default TrustedProxies() = %v, want none", got)
	}
	c.HTTP.TrustedProxies = []string{"10.1.2.3/8", "192.0.2.1", "2001:db8::1", "2001:db8::/32"}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.1/32"),
		netip.MustParsePrefix("2001:db8::1/128"),
		netip.MustParsePrefix("2001:db8::/32"),
	}
	if got := c.TrustedProxies(); !slices.Equal(got, want) {
		t.Errorf("TrustedProxies() = %v, want %v", got, want)
	}
}

func TestConfigDatabaseDriver(t *testing.T) {
	tests := []struct {
		url, driver, dsn string
	}{
		{"sqlite:data/gatehouse.db", "sqlite", "data/gatehouse.db"},
		{"sqlite:/var/lib/gatehouse/db.sqlite", "sqlite", "/var/lib/gatehouse/db.sqlite"},
		{"postgres://u:p@db:5432/gatehouse", "postgres", "postgres://u:p@db:5432/gatehouse"},
		{"postgresql://db/gatehouse?sslmode=disable", "postgres", "postgresql://db/gatehouse?sslmode=disable"},
		{"mysql://db/gatehouse", "", ""},
	}
	for _, tt := range tests {
		c := Default()
		c.Database.URL = tt.url
		if driver, dsn := c.DatabaseDriver(); driver != tt.driver || dsn != tt.dsn {
			t.Errorf("DatabaseDriver() for %q = %q, %q, want %q, %q", tt.url, driver, dsn, tt.driver, tt.dsn)
		}
	}
}

func TestDurationUnmarshalYAML(t *testing.T) {
	var v struct {
		D Duration `yaml:"d"`
	}
	if err := yaml.Unmarshal([]byte("d: 1m30s\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.D.Duration != 90*time.Second {
		t.Errorf("decoded %v, want 1m30s", v.D)
	}
	if err := yaml.Unmarshal([]byte("d: soon\n"), &v); err == nil || !strings.Contains(err.Error(), `invalid duration "soon"`) {
		t.Errorf("decoding %q: error = %v, want invalid duration", "soon", err)
	}
}

func TestConfigLogValueRedacts(t *testing.T) {
	c := Default()
	c.Mail.SMTP.Password = "smtp-hunter2"
	c.Database.URL = "postgres://gatehouse:db-hunter2@db:5432/gatehouse"

	for _, v := range []any{c, *c} {
		var buf bytes.Buffer
		logger := slog.New(slog.NewJSONHandler(&buf, nil))
		logger.Info("starting", "config", v)
		out := buf.String()
		for _, secret := range []string{"smtp-hunter2", "db-hunter2"} {
			if strings.Contains(out, secret) {
				t.Errorf("log of %T reveals %q: %s", v, secret, out)
			}
		}
		var entry struct {
			Config struct {
				Mail struct {
					SMTP struct {
						Password string `json:"password"`
						Port     int    `json:"port"`
					} `json:"smtp"`
				} `json:"mail"`
				Database struct {
					URL string `json:"url"`
				} `json:"database"`
				Lockout struct {
					BlockDuration string `json:"block_duration"`
				} `json:"lockout"`
			} `json:"config"`
		}
		if err := json.Unmarshal([]byte(out), &entry); err != nil {
			t.Fatal(err)
		}
		got := entry.Config
		if got.Mail.SMTP.Password != "REDACTED" || got.Mail.SMTP.Port != 587 ||
			got.Database.URL != "postgres://gatehouse:xxxxx@db:5432/gatehouse" ||
			got.Lockout.BlockDuration != "10m0s" {
			t.Errorf("log of %T = %s", v, out)
		}
	}
	if c.Mail.SMTP.Password != "smtp-hunter2" {
		t.Errorf("logging changed the config's password to %q", c.Mail.SMTP.Password)
	}
}

// TestIssuerFollowsLocalPort: changing only the listener's port on this
// machine moves the default issuer with it (issue 18 §5); an issuer given
// in the file or the environment is kept, and a server on all interfaces
// or another host keeps the default (it needs its public URL configured,
// and IssuerPortMismatch warns).
func TestIssuerFollowsLocalPort(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{"address alone, loopback", "", map[string]string{"GATEHOUSE_HTTP_ADDRESS": "127.0.0.1:9090"}, "http://localhost:9090"},
		{"address alone, localhost", "", map[string]string{"GATEHOUSE_HTTP_ADDRESS": "localhost:9191"}, "http://localhost:9191"},
		{"address alone, IPv6 loopback", "", map[string]string{"GATEHOUSE_HTTP_ADDRESS": "[::1]:9292"}, "http://localhost:9292"},
		{"address in the file", "http: {address: 127.0.0.2:7000}\n", nil, "http://localhost:7000"},
		{"default port", "", map[string]string{"GATEHOUSE_HTTP_ADDRESS": "127.0.0.1:8080"}, "http://localhost:8080"},
		{"all interfaces", "", map[string]string{"GATEHOUSE_HTTP_ADDRESS": ":9090"}, "http://localhost:8080"},
		{"another host", "", map[string]string{"GATEHOUSE_HTTP_ADDRESS": "192.0.2.7:9090"}, "http://localhost:8080"},
		{"issuer in the environment", "", map[string]string{"GATEHOUSE_HTTP_ADDRESS": "127.0.0.1:9090", "GATEHOUSE_ISSUER": "http://localhost:8080"}, "http://localhost:8080"},
		{"issuer in the file, even the default", "issuer: http://localhost:8080\n", map[string]string{"GATEHOUSE_HTTP_ADDRESS": "127.0.0.1:9090"}, "http://localhost:8080"},
		{"https issuer", "issuer: https://id.example.com\n", map[string]string{"GATEHOUSE_HTTP_ADDRESS": "127.0.0.1:9090"}, "https://id.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeConfig(t, tc.file)
			}
			c, err := Load(path, mapEnv(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.Issuer != tc.want {
				t.Errorf("issuer %q, want %q", c.Issuer, tc.want)
			}
		})
	}
}

func TestIssuerPortMismatch(t *testing.T) {
	for _, tc := range []struct {
		issuer, address string
		warn            bool
	}{
		{"http://localhost:8080", "127.0.0.1:8080", false},
		{"http://localhost:8080", ":9090", true},
		{"http://localhost:8080", "127.0.0.1:9090", true},
		{"http://127.0.0.1:8080", "0.0.0.0:8081", true},
		{"http://localhost", "127.0.0.1:80", false},
		{"http://localhost", "127.0.0.1:8080", true},
		{"http://id.internal:8080", ":9090", false}, // another name: a proxy or DNS may be there
		{"https://localhost:8443", "127.0.0.1:8080", false},
	} {
		c := Default()
		c.Issuer, c.HTTP.Address = tc.issuer, tc.address
		msg := c.IssuerPortMismatch()
		if (msg != "") != tc.warn {
			t.Errorf("issuer %s, address %s: warning %q, want one: %v", tc.issuer, tc.address, msg, tc.warn)
		}
		if msg != "" && !strings.Contains(msg, "GATEHOUSE_ISSUER") {
			t.Errorf("the warning does not say what to set: %s", msg)
		}
	}
}

func TestBrand(t *testing.T) {
	t.Run("name is the TOTP issuer unless that is set", func(t *testing.T) {
		for _, tc := range []struct {
			env  map[string]string
			want string
		}{
			{map[string]string{}, "Gatehouse"},
			{map[string]string{"GATEHOUSE_BRAND_NAME": "Axxon Datacenter"}, "Axxon Datacenter"},
			{map[string]string{"GATEHOUSE_BRAND_NAME": "Axxon Datacenter", "GATEHOUSE_SECOND_FACTOR_TOTP_ISSUER": "Axxon"}, "Axxon"},
		} {
			c, err := Load("", mapEnv(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.SecondFactor.TOTPIssuer != tc.want {
				t.Errorf("%v: totp_issuer %q, want %q", tc.env, c.SecondFactor.TOTPIssuer, tc.want)
			}
		}
		c, err := Load(writeConfig(t, "brand: {name: Axxon Datacenter}\n"), nil)
		if err != nil || c.SecondFactor.TOTPIssuer != "Axxon Datacenter" || c.Brand.Name != "Axxon Datacenter" {
			t.Errorf("brand.name in the file: totp_issuer %q, name %q, %v", c.SecondFactor.TOTPIssuer, c.Brand.Name, err)
		}
	})
	for _, tc := range []struct {
		key, value string
		ok         bool
	}{
		{"GATEHOUSE_BRAND_PRIMARY_COLOR", "#1f5fbf", true},
		{"GATEHOUSE_BRAND_PRIMARY_COLOR", "#B35900", true},
		{"GATEHOUSE_BRAND_PRIMARY_COLOR", "#f0b400", false}, // 1.87:1 with white
		{"GATEHOUSE_BRAND_PRIMARY_COLOR", "#5b9bff", false}, // 2.9:1
		{"GATEHOUSE_BRAND_PRIMARY_COLOR", "#777777", false}, // 4.48:1, just short
		{"GATEHOUSE_BRAND_PRIMARY_COLOR", "#000", false},    // #rrggbb only
		{"GATEHOUSE_BRAND_PRIMARY_COLOR", "blue", false},
		{"GATEHOUSE_BRAND_NAME", "Axxon Datacenter", true},
		{"GATEHOUSE_BRAND_NAME", "   ", false},
		{"GATEHOUSE_BRAND_NAME", "Axxon\nDatacenter", false},
		{"GATEHOUSE_BRAND_NAME", strings.Repeat("x", 65), false},
		{"GATEHOUSE_BRAND_LOGO", "/static/logo.svg", true},
		{"GATEHOUSE_BRAND_LOGO", "https://cdn.example.com/logo.svg", true},
		{"GATEHOUSE_BRAND_LOGO", "http://cdn.example.com/logo.svg", false},
		{"GATEHOUSE_BRAND_LOGO", "//evil.example/logo.svg", false},
		{"GATEHOUSE_BRAND_LOGO", "javascript:alert(1)", false},
		{"GATEHOUSE_BRAND_SUPPORT_URL", "https://help.example.com/", true},
		{"GATEHOUSE_BRAND_SUPPORT_URL", "javascript:alert(1)", false},
		{"GATEHOUSE_BRAND_PRIVACY_URL", "help", false},
		{"GATEHOUSE_BRAND_TERMS_URL", "https://example.com/terms", true},
		{"GATEHOUSE_BRAND_SUPPORT_EMAIL", "help@example.com", true},
		{"GATEHOUSE_BRAND_SUPPORT_EMAIL", "Help <help@example.com>", false},
		{"GATEHOUSE_BRAND_SUPPORT_EMAIL", "nobody", false},
	} {
		_, err := Load("", mapEnv(map[string]string{tc.key: tc.value}))
		if (err == nil) != tc.ok {
			t.Errorf("%s=%q: error %v, want ok %v", tc.key, tc.value, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "brand.") {
			t.Errorf("%s=%q: the error does not name the key: %v", tc.key, tc.value, err)
		}
	}
}

func TestBrandTemplatesDir(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load("", mapEnv(map[string]string{"GATEHOUSE_BRAND_TEMPLATES_DIR": dir})); err != nil {
		t.Errorf("a directory: %v", err)
	}
	file := filepath.Join(dir, "login.html")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{filepath.Join(dir, "missing"), file} {
		_, err := Load("", mapEnv(map[string]string{"GATEHOUSE_BRAND_TEMPLATES_DIR": bad}))
		if err == nil || !strings.Contains(err.Error(), "brand.templates_dir") {
			t.Errorf("templates_dir %s: %v, want an error naming the key", bad, err)
		}
	}
}

// TestUnknownVariables covers the warnings for GATEHOUSE_ variables that set
// no key: a misspelt override names the variable meant; keys' variables,
// GATEHOUSE_CONFIG, the test hooks and other programs' variables pass.
func TestUnknownVariables(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    []string
	}{
		{"none", nil, nil},
		{"known", []string{"GATEHOUSE_DATABASE_URL=sqlite:x.db", "GATEHOUSE_CONFIG=/etc/g.yaml",
			"GATEHOUSE_TEST_CLOCK_FILE=/tmp/c", "GATEHOUSE_MAIL_SMTP_HOST=", "HOME=/root", "PATH=/bin"}, nil},
		{"misspelt", []string{"GATEHOUSE_DATABSE_URL=postgres://db/g"},
			[]string{"GATEHOUSE_DATABSE_URL is not a configuration variable and is ignored (did you mean GATEHOUSE_DATABASE_URL?)"}},
		{"old name", []string{"GATEHOUSE_LOCKOUT_MAX_ATTEMPT=3"},
			[]string{"GATEHOUSE_LOCKOUT_MAX_ATTEMPT is not a configuration variable and is ignored (did you mean GATEHOUSE_LOCKOUT_MAX_ATTEMPTS?)"}},
		{"nothing close", []string{"GATEHOUSE_BOGUS=1", "GATEHOUSE_=x"},
			[]string{"GATEHOUSE_ is not a configuration variable and is ignored", "GATEHOUSE_BOGUS is not a configuration variable and is ignored"}},
		{"a section", []string{"GATEHOUSE_LOCKOUT=5"},
			[]string{"GATEHOUSE_LOCKOUT is not a configuration variable and is ignored"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UnknownVariables(tt.environ); !slices.Equal(got, tt.want) {
				t.Errorf("UnknownVariables(%q) =\n%q\nwant\n%q", tt.environ, got, tt.want)
			}
		})
	}
}

// TestListenerConflict covers the admin listener on the public one's port:
// serve refuses it, naming both keys.
func TestListenerConflict(t *testing.T) {
	tests := []struct {
		name, http, admin string
		want              string // "" if no conflict
	}{
		{"defaults", "127.0.0.1:8080", "127.0.0.1:9090", ""},
		{"http on the admin default", "127.0.0.1:9090", "127.0.0.1:9090",
			"admin.address (127.0.0.1:9090) and http.address (127.0.0.1:9090) are the same port: give admin.address another port, or off"},
		{"http on every address", ":8080", "127.0.0.1:8080", "admin.address (127.0.0.1:8080) and http.address (:8080) are the same port"},
		{"admin on every address", "127.0.0.1:8080", "0.0.0.0:8080", "are the same port"},
		{"host names differ in case", "LOCALHOST:8080", "localhost:8080", "are the same port"},
		{"another host", "10.0.0.1:8080", "127.0.0.1:8080", ""},
		{"random ports", "127.0.0.1:0", "127.0.0.1:0", ""},
		{"admin off", "127.0.0.1:9090", "off", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.HTTP.Address, c.Admin.Address = tt.http, tt.admin
			err := c.ListenerConflict()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("ListenerConflict() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("ListenerConflict() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
