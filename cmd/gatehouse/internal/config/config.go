// Package config reads Gatehouse's configuration: built-in defaults, a YAML
// file and GATEHOUSE_… environment variables, each error naming its key.
package config

import (
	"bytes"
	"crypto/tls"
	"encoding"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"maps"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse-idp/gatehouse/templates"
	"github.com/jackc/pgx/v5/pgconn"
	"go.yaml.in/yaml/v3"
)

// A Config is Gatehouse's configuration: the defaults of Default,
// overridden by a YAML file (config.example.yaml lists every key), overridden
// in turn by environment variables.
//
// Each leaf field is one key, named by the yaml tags along its path, such as
// "mail.smtp.host". Its environment variable is GATEHOUSE_ followed by the key
// in upper case with dots replaced by underscores: GATEHOUSE_MAIL_SMTP_HOST.
type Config struct {
	// Issuer is the public base URL of Gatehouse and the "iss" of its tokens.
	Issuer       string             `yaml:"issuer"`
	Brand        BrandConfig        `yaml:"brand"`
	HTTP         HTTPConfig         `yaml:"http"`
	Admin        AdminConfig        `yaml:"admin"`
	Database     DatabaseConfig     `yaml:"database"`
	Secrets      SecretsConfig      `yaml:"secrets"`
	Mail         MailConfig         `yaml:"mail"`
	SecondFactor SecondFactorConfig `yaml:"second_factor"`
	Lockout      LockoutConfig      `yaml:"lockout"`
	Password     PasswordConfig     `yaml:"password"`
	Registration RegistrationConfig `yaml:"registration"`
	Session      SessionConfig      `yaml:"session"`
	Tokens       TokensConfig       `yaml:"tokens"`
	Keys         KeysConfig         `yaml:"keys"`
	Housekeeping HousekeepingConfig `yaml:"housekeeping"`
	Audit        AuditConfig        `yaml:"audit"`
	Log          LogConfig          `yaml:"log"`
}

// BrandConfig is the "brand" section: the operator's name, logo, colour
// and links on every page and email.
type BrandConfig struct {
	// Name is the product name in page headers and titles and in emails,
	// and the issuer authenticator apps show unless
	// second_factor.totp_issuer is set.
	Name string `yaml:"name"`
	// Logo is the URL of the logo in page headers, https or a path on
	// this server; empty shows the name alone.
	Logo string `yaml:"logo"`
	// PrimaryColor is the colour of links and buttons in the light theme,
	// #rrggbb. It must keep 4.5:1 contrast with white (WCAG 2.2 1.4.3):
	// links on the white card, white text on buttons. The dark theme keeps
	// its own.
	PrimaryColor string `yaml:"primary_color"`
	// SupportURL and SupportEmail are where pages send people for help;
	// PrivacyURL and TermsURL are the legal links in the footer. Empty
	// shows none.
	SupportURL   string `yaml:"support_url"`
	SupportEmail string `yaml:"support_email"`
	PrivacyURL   string `yaml:"privacy_url"`
	TermsURL     string `yaml:"terms_url"`
	// TemplatesDir is a directory whose page templates (layout.html,
	// login.html, …) and static/ files replace the built-in ones of the
	// same name; the others stay built in. "" uses the built-in ones.
	TemplatesDir string `yaml:"templates_dir"`
}

// HTTPConfig is the "http" section: the listener and the requests it accepts.
type HTTPConfig struct {
	// Address is the host:port to listen on.
	Address string `yaml:"address"`
	// TrustedProxies lists the CIDRs, or single addresses, of the reverse
	// proxies whose X-Forwarded-For header is believed.
	// Config.TrustedProxies returns them parsed.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// MaxBodyBytes is the largest request body accepted.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ShutdownDelay is how long, on SIGTERM, the server keeps serving with
	// /readyz answering 503 before it stops accepting connections, so that
	// load balancers see it leave first. Zero (the default) stops at once.
	ShutdownDelay Duration `yaml:"shutdown_delay"`
}

// AdminConfig is the "admin" section: the operators' listener, apart
// from the public one, that serves metrics, the admin API and profiles.
type AdminConfig struct {
	// Address is the host:port of the admin listener; loopback by
	// default. "off" turns the listener off.
	Address string `yaml:"address"`
	// Pprof serves net/http/pprof's profiles under /debug/pprof/ on the
	// admin listener.
	Pprof bool `yaml:"pprof"`
}

// DatabaseConfig is the "database" section.
type DatabaseConfig struct {
	// URL is "sqlite:PATH" or a postgres:// (or postgresql://) URL.
	// Config.DatabaseDriver splits it into a driver name and a DSN.
	URL string `yaml:"url"`
	// MaxConns caps the PostgreSQL connections of each replica's pool; 0
	// keeps the URL's pool_max_conns, else postgres.DefaultMaxConns (twice
	// the CPUs, at least 8).
	MaxConns int `yaml:"max_conns"`
	// InsecureHosts lists the PostgreSQL hosts that URL may reach without
	// verified TLS (sslmode other than verify-full). Loopback hosts and
	// unix sockets need not be listed.
	InsecureHosts []string `yaml:"insecure_hosts"`
}

// SecretsConfig is the "secrets" section.
type SecretsConfig struct {
	// KeyFile holds the key that encrypts TOTP secrets and signing keys at
	// rest. It is created if missing.
	KeyFile string `yaml:"key_file"`
}

// MailConfig is the "mail" section: how email codes are sent.
type MailConfig struct {
	// From is the sender address, such as "Gatehouse <no-reply@example.com>".
	From string     `yaml:"from"`
	SMTP SMTPConfig `yaml:"smtp"`
	// OutboxDir is the mail outbox: with no SMTP host, each email is
	// written whole to a new .eml file in this directory (mode 0700,
	// files 0600) instead of being sent, for development.
	OutboxDir string `yaml:"outbox_dir"`
	// CodeInSubject puts one-time codes in the subject line of code
	// emails. Off by default: a subject shows on lock screens.
	CodeInSubject bool `yaml:"code_in_subject"`
}

// SMTPConfig is the "mail.smtp" section. An empty Host means messages are
// written to the mail outbox (MailConfig.OutboxDir) instead of being sent,
// for development.
type SMTPConfig struct {
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	// Password is secret: Config.LogValue and Config.Redacted hide it.
	Password string `yaml:"password"`
	// TLS is "starttls", "tls" (implicit TLS) or "none".
	TLS string `yaml:"tls"`
	// InsecureHosts lists the SMTP hosts that may be reached with TLS
	// "none". Loopback hosts need not be listed.
	InsecureHosts []string `yaml:"insecure_hosts"`
}

// SecondFactorConfig is the "second_factor" section.
type SecondFactorConfig struct {
	// EmailCodeTTL is how long an emailed code stays valid.
	EmailCodeTTL Duration `yaml:"email_code_ttl"`
	// EmailResendCooldown is how long a user waits before another code can
	// be sent.
	EmailResendCooldown Duration `yaml:"email_resend_cooldown"`
	// EmailMaxPerAccount and EmailMaxPerIP cap the code emails sent to one
	// account and for one client IP within EmailMaxWindow; past the cap,
	// no code is sent until the window's block ends.
	EmailMaxPerAccount int      `yaml:"email_max_per_account"`
	EmailMaxPerIP      int      `yaml:"email_max_per_ip"`
	EmailMaxWindow     Duration `yaml:"email_max_window"`
	// TOTPIssuer is the issuer name that authenticator apps show.
	TOTPIssuer string `yaml:"totp_issuer"`
}

// LockoutConfig is the "lockout" section: limits on wrong one-time codes.
type LockoutConfig struct {
	// MaxAttempts is the number of wrong codes from one client IP before
	// that IP is blocked.
	MaxAttempts int `yaml:"max_attempts"`
	// BlockDuration is how long the block lasts.
	BlockDuration Duration `yaml:"block_duration"`
	// AccountMaxAttempts caps wrong codes for one account across all IPs
	// within AccountWindow; then the account's code step is refused for
	// BlockDuration and its owner is told by email.
	AccountMaxAttempts int      `yaml:"account_max_attempts"`
	AccountWindow      Duration `yaml:"account_window"`
}

// PasswordConfig is the "password" section: limits on wrong passwords.
type PasswordConfig struct {
	// MaxAttempts is the number of wrong passwords for one account, from any
	// IP, before the account is blocked.
	MaxAttempts int `yaml:"max_attempts"`
	// IPMaxAttempts is the number of wrong passwords from one client IP, for
	// any account, before that IP is blocked.
	IPMaxAttempts int `yaml:"ip_max_attempts"`
	// BlockDuration is how long either block lasts.
	BlockDuration Duration `yaml:"block_duration"`
	// BreachedFile, if set, names a local copy of the Pwned Passwords list
	// (SHA-1 "HASH:COUNT" lines sorted by hash); new passwords found in it
	// are refused. Empty: no such check.
	BreachedFile string `yaml:"breached_file"`
}

// RegistrationConfig is the "registration" section: accounts people create
// themselves.
type RegistrationConfig struct {
	// Enabled opens /register, where anyone can create an account that
	// becomes usable once its email address is confirmed.
	Enabled bool `yaml:"enabled"`
}

// SessionConfig is the "session" section: browser sessions at Gatehouse.
type SessionConfig struct {
	// Lifetime is the longest a session lasts, however active.
	Lifetime Duration `yaml:"lifetime"`
	// IdleTimeout ends a session unused for this long. It is at most Lifetime.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// ReauthWindow is how recent a sign-in or re-authentication must be
	// for a sensitive account change (email, second factors, security
	// keys, recovery codes, signing out other sessions); older sessions are
	// asked for the password (and second factor) again first.
	ReauthWindow Duration `yaml:"reauth_window"`
}

// TokensConfig is the "tokens" section: lifetimes of what the OP issues.
type TokensConfig struct {
	AccessTokenTTL Duration `yaml:"access_token_ttl"`
	IDTokenTTL     Duration `yaml:"id_token_ttl"`
	// RefreshTokenTTL is the absolute lifetime of a refresh token family:
	// refreshing does not extend it.
	RefreshTokenTTL Duration `yaml:"refresh_token_ttl"`
	// AuthCodeTTL is the lifetime of an authorization code, at most 60s.
	AuthCodeTTL Duration `yaml:"auth_code_ttl"`
	// DefaultAudience is the "aud" of JWT access tokens whose token request
	// names no resource (RFC 8707): an absolute URI, or "" for the issuer.
	DefaultAudience string `yaml:"default_audience"`
}

// KeysConfig is the "keys" section: token signing keys.
type KeysConfig struct {
	// Algorithm is "RS256", "ES256" or "EdDSA", the algorithm of new signing keys.
	Algorithm string `yaml:"algorithm"`
}

// HousekeepingConfig is the "housekeeping" section: the purge of expired
// state (housekeeping.go).
type HousekeepingConfig struct {
	// Interval is the time between two purges of what has expired. Every
	// replica runs them; one at a time does the work.
	Interval Duration `yaml:"interval"`
}

// AuditConfig is the "audit" section: the audit log.
type AuditConfig struct {
	// Retention is how long audit events are kept; housekeeping deletes
	// older ones. Zero keeps them forever.
	Retention Duration `yaml:"retention"`
}

// LogConfig is the "log" section.
type LogConfig struct {
	// Level is "debug", "info", "warn" or "error".
	Level string `yaml:"level"`
	// Format is "json" or "text".
	Format string `yaml:"format"`
}

// A Duration is a time.Duration written in configuration the way
// time.ParseDuration reads it, such as "60s", "10m" or "12h".
type Duration struct {
	time.Duration
}

// MarshalText returns the duration as time.Duration.String writes it.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// UnmarshalText parses a duration such as "60s" or "10m".
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q (write a number and a unit, such as 60s or 10m)", text)
	}
	d.Duration = v
	return nil
}

// UnmarshalYAML parses a scalar YAML node with UnmarshalText.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be a duration, such as 60s or 10m")
	}
	return d.UnmarshalText([]byte(n.Value))
}

// Default returns the configuration used for every key that neither the
// file nor the environment sets.
func Default() *Config {
	return &Config{
		Issuer: "http://localhost:8080",
		Admin:  AdminConfig{Address: "127.0.0.1:9090"},
		Brand:  BrandConfig{Name: "Gatehouse", PrimaryColor: "#1f5fbf"},
		HTTP: HTTPConfig{
			Address:        "127.0.0.1:8080",
			TrustedProxies: []string{},
			MaxBodyBytes:   64 << 10,
		},
		Database: DatabaseConfig{URL: "sqlite:data/gatehouse.db", InsecureHosts: []string{}},
		Secrets:  SecretsConfig{KeyFile: "data/secret.key"},
		Mail: MailConfig{
			From:      "Gatehouse <no-reply@localhost>",
			SMTP:      SMTPConfig{Port: 587, TLS: "starttls", InsecureHosts: []string{}},
			OutboxDir: "data/mail",
		},
		SecondFactor: SecondFactorConfig{
			EmailCodeTTL:        Duration{60 * time.Second},
			EmailResendCooldown: Duration{30 * time.Second},
			EmailMaxPerAccount:  5,
			EmailMaxPerIP:       10,
			EmailMaxWindow:      Duration{15 * time.Minute},
			TOTPIssuer:          "Gatehouse",
		},
		Lockout: LockoutConfig{
			MaxAttempts:        3,
			BlockDuration:      Duration{10 * time.Minute},
			AccountMaxAttempts: 10,
			AccountWindow:      Duration{time.Hour},
		},
		Password: PasswordConfig{
			MaxAttempts:   5,
			IPMaxAttempts: 20,
			BlockDuration: Duration{10 * time.Minute},
		},
		Registration: RegistrationConfig{Enabled: true},
		Session: SessionConfig{
			Lifetime:     Duration{12 * time.Hour},
			IdleTimeout:  Duration{time.Hour},
			ReauthWindow: Duration{5 * time.Minute},
		},
		Tokens: TokensConfig{
			AccessTokenTTL:  Duration{15 * time.Minute},
			IDTokenTTL:      Duration{time.Hour},
			RefreshTokenTTL: Duration{720 * time.Hour},
			AuthCodeTTL:     Duration{60 * time.Second},
		},
		Keys:         KeysConfig{Algorithm: "RS256"},
		Housekeeping: HousekeepingConfig{Interval: Duration{10 * time.Minute}},
		Audit:        AuditConfig{Retention: Duration{90 * 24 * time.Hour}},
		Log:          LogConfig{Level: "info", Format: "json"},
	}
}

// Load returns the configuration in the YAML file at path over the
// defaults, with overrides from the environment variables that getenv reports
// applied on top, checked by Validate. An empty path, an empty file, a key
// left out and a key with an empty (null) value all keep the defaults.
// getenv is usually os.Getenv; an empty variable counts as unset, and a nil
// getenv reads no variables.
//
// Unknown keys are refused. Each error names the key at fault and where it
// was set (file and line, or environment variable). Errors do not stop at the
// first: all the file's problems are reported together, or, if it has none,
// all those of the environment, or else all those Validate finds.
func Load(path string, getenv func(string) string) (*Config, error) {
	c := Default()
	set := map[string]bool{} // the keys the file or the environment set
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		inFile, err := c.decodeYAML(path, data)
		if err != nil {
			return nil, err
		}
		maps.Copy(set, inFile)
	}
	if getenv != nil {
		inEnv, err := c.applyEnv(getenv)
		if err != nil {
			return nil, err
		}
		maps.Copy(set, inEnv)
	}
	if !set["issuer"] {
		c.Issuer = localIssuer(c.HTTP.Address, c.Issuer)
	}
	if !set["second_factor.totp_issuer"] && set["brand.name"] {
		c.SecondFactor.TOTPIssuer = c.Brand.Name
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeYAML decodes the YAML document data, read from path, over c.
//
// Rather than decoding straight into c with yaml.Decoder.KnownFields, which
// reports Go type names ("field bogus not found in type main.HTTPConfig") and
// cannot tell a Duration which key it belongs to, it walks the document's
// nodes alongside c's yaml tags, so that each error names its dotted key.
//
// It returns the keys the document sets.
func (c *Config) decodeYAML(path string, data []byte) (set map[string]bool, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil // no document: the file is empty or only comments
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(next.Content) > 0 && !yamlIsNull(yamlTarget(next.Content[0])) {
			return nil, fmt.Errorf("%s:%d: only one YAML document is allowed", path, next.Line)
		}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := yamlTarget(doc.Content[0])
	if yamlIsNull(root) {
		return nil, nil
	}
	d := configDecoder{path: path, set: map[string]bool{}}
	d.section(root, reflect.ValueOf(c).Elem(), "")
	return d.set, errors.Join(d.errs...)
}

// A configDecoder decodes YAML nodes into a Config, collecting errors.
type configDecoder struct {
	path string
	errs []error
	set  map[string]bool // the keys decoded
}

func (d *configDecoder) errorf(n *yaml.Node, key, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if key != "" {
		msg = key + ": " + msg
	}
	d.errs = append(d.errs, fmt.Errorf("%s:%d: %s", d.path, n.Line, msg))
}

// section decodes the mapping n into the struct v, whose key is prefix.
func (d *configDecoder) section(n *yaml.Node, v reflect.Value, prefix string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, prefix, "must be a mapping of keys to values")
		return
	}
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], yamlTarget(n.Content[i+1])
		key := joinConfigKey(prefix, k.Value)
		if line, ok := seen[k.Value]; ok {
			d.errorf(k, key, "set twice (first at line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		f, ok := configField(v, k.Value)
		if !ok {
			d.errorf(k, key, "unknown key (known here: %s)", strings.Join(configFieldNames(v.Type()), ", "))
			continue
		}
		switch {
		case yamlIsNull(val):
			// Keep the default.
		case isConfigSection(f):
			d.section(val, f, key)
		default:
			d.leaf(val, f, key)
			d.set[key] = true
		}
	}
}

// leaf decodes n into the leaf field f, whose key is key.
func (d *configDecoder) leaf(n *yaml.Node, f reflect.Value, key string) {
	if u, ok := f.Addr().Interface().(yaml.Unmarshaler); ok {
		if err := u.UnmarshalYAML(n); err != nil {
			d.errorf(n, key, "%v", err)
		}
		return
	}
	switch {
	case f.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, key, "must be a list, such as [a, b]")
			return
		}
		list := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			item = yamlTarget(item)
			if item.Kind != yaml.ScalarNode {
				d.errorf(item, key, "list items must be single values")
				continue
			}
			list = append(list, item.Value)
		}
		f.Set(reflect.ValueOf(list))
	case n.Kind != yaml.ScalarNode:
		d.errorf(n, key, "must be a single value, not a list or mapping")
	default:
		if err := setConfigScalar(f, n.Value); err != nil {
			d.errorf(n, key, "%v", err)
		}
	}
}

// yamlTarget returns the node that n stands for, following aliases.
func yamlTarget(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func yamlIsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// applyEnv sets each key whose environment variable getenv reports.
// A list is written comma-separated.
//
// It returns the keys the environment sets.
func (c *Config) applyEnv(getenv func(string) string) (map[string]bool, error) {
	var errs []error
	set := map[string]bool{}
	for key, f := range configLeaves(reflect.ValueOf(c).Elem(), "") {
		name := configEnvName(key)
		s := getenv(name)
		if s == "" {
			continue
		}
		set[key] = true
		if f.Kind() == reflect.Slice {
			list := []string{}
			for item := range strings.SplitSeq(s, ",") {
				if item = strings.TrimSpace(item); item != "" {
					list = append(list, item)
				}
			}
			f.Set(reflect.ValueOf(list))
			continue
		}
		if err := setConfigScalar(f, s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", name, key, err))
		}
	}
	return set, errors.Join(errs...)
}

// UnknownVariables returns a warning for each variable of environ (as
// os.Environ lists them, NAME=value) that starts with GATEHOUSE_ but sets no
// key: a misspelt override is otherwise ignored in silence, and a server
// whose GATEHOUSE_DATABSE_URL names the production database runs on the
// default SQLite file instead. GATEHOUSE_CONFIG and the test hooks
// (GATEHOUSE_TEST_…) are not keys but are known. The variables stay ignored;
// each warning names the variable and, if one is close, the one meant.
func UnknownVariables(environ []string) []string {
	known := []string{}
	for key := range configLeaves(reflect.ValueOf(Default()).Elem(), "") {
		known = append(known, configEnvName(key))
	}
	var warnings []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "GATEHOUSE_") || name == "GATEHOUSE_CONFIG" ||
			strings.HasPrefix(name, "GATEHOUSE_TEST_") || slices.Contains(known, name) {
			continue
		}
		w := name + " is not a configuration variable and is ignored"
		best, dist := "", 4 // suggest only a name at most 3 edits away
		for _, k := range known {
			if d := editDistance(name, k); d < dist {
				best, dist = k, d
			}
		}
		if best != "" {
			w += " (did you mean " + best + "?)"
		}
		warnings = append(warnings, w)
	}
	slices.Sort(warnings)
	return warnings
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// configEnvName returns the environment variable that overrides key.
func configEnvName(key string) string {
	return "GATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// setConfigScalar parses s into the string, integer or
// encoding.TextUnmarshaler field f.
func setConfigScalar(f reflect.Value, s string) error {
	if u, ok := f.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("invalid boolean %q (write true or false)", s)
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid integer %q", s)
		}
		f.SetInt(n)
	default:
		panic("config: unsupported field type " + f.Type().String())
	}
	return nil
}

// configLeaves yields the dotted key and the field of each leaf of the
// struct v, whose own key is prefix, in declaration order.
func configLeaves(v reflect.Value, prefix string) iter.Seq2[string, reflect.Value] {
	return func(yield func(string, reflect.Value) bool) {
		t := v.Type()
		for i := range t.NumField() {
			key := joinConfigKey(prefix, configKeyName(t.Field(i)))
			f := v.Field(i)
			if !isConfigSection(f) {
				if !yield(key, f) {
					return
				}
				continue
			}
			for k, leaf := range configLeaves(f, key) {
				if !yield(k, leaf) {
					return
				}
			}
		}
	}
}

// isConfigSection reports whether f is a section holding further keys
// rather than a value.
func isConfigSection(f reflect.Value) bool {
	return f.Kind() == reflect.Struct && f.Type() != reflect.TypeFor[Duration]()
}

// configField returns the field of the struct v whose key is name.
func configField(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		if configKeyName(t.Field(i)) == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func configFieldNames(t reflect.Type) []string {
	names := make([]string, t.NumField())
	for i := range names {
		names[i] = configKeyName(t.Field(i))
	}
	return names
}

func configKeyName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

func joinConfigKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// maxEmailCodeTTL is the longest second_factor.email_code_ttl.
const maxEmailCodeTTL = 10 * time.Minute

// maxShutdownDelay is the longest http.shutdown_delay. The delay is slept
// through after SIGTERM, before the listeners drain for up to 30 s more, and
// a second signal does not cut it short: it only needs to outlast a load
// balancer's health checks (seconds), and a longer one would keep a
// replica stopping past its supervisor's stop timeout (45 s in the
// deploy files, 30 s by default on Kubernetes, 90 s under systemd), which
// then kills it mid-request.
const maxShutdownDelay = time.Minute

// Validate reports every problem with c, each as an error that starts with
// the key at fault, joined with errors.Join; it returns nil if there are none.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	oneOf := func(key, value string, allowed ...string) {
		if !slices.Contains(allowed, value) {
			bad(key, "must be one of %s, not %q", strings.Join(allowed, ", "), value)
		}
	}
	atLeastOne := func(key string, n int) {
		if n < 1 {
			bad(key, "must be at least 1")
		}
	}

	if err := checkIssuer(c.Issuer); err != nil {
		bad("issuer", "%v", err)
	}

	if _, port, err := net.SplitHostPort(c.HTTP.Address); err != nil {
		bad("http.address", "must be host:port, such as 127.0.0.1:8080, not %q", c.HTTP.Address)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		bad("http.address", "port must be a number from 0 to 65535, not %q", port)
	}
	for _, s := range c.HTTP.TrustedProxies {
		if _, err := parseTrustedProxy(s); err != nil {
			bad("http.trusted_proxies", "%v", err)
		}
	}
	if c.Admin.Address != "off" {
		if _, port, err := net.SplitHostPort(c.Admin.Address); err != nil {
			bad("admin.address", "must be host:port, such as 127.0.0.1:9090, or off (no admin listener), not %q", c.Admin.Address)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			bad("admin.address", "port must be a number from 0 to 65535, not %q", port)
		}
	}
	if c.HTTP.MaxBodyBytes < 1 {
		bad("http.max_body_bytes", "must be positive")
	}
	if d := c.HTTP.ShutdownDelay.Duration; d > maxShutdownDelay {
		bad("http.shutdown_delay", "must be at most %v (a few health-check intervals), not %v", maxShutdownDelay, d)
	}

	if _, _, ok := databaseDriver(c.Database.URL); !ok {
		// The URL is not quoted: it may hold a password.
		bad("database.url", "must be sqlite:PATH or a postgres://user:pass@host:5432/db URL")
	}
	if driver, dsn, _ := databaseDriver(c.Database.URL); driver == "postgres" {
		for _, err := range checkPostgresTLS(dsn, c.Database.InsecureHosts) {
			bad("database.url", "%v", err)
		}
	}
	checkInsecureHosts(bad, "database.insecure_hosts", c.Database.InsecureHosts)
	if n := c.Database.MaxConns; n < 0 || n > 10000 {
		bad("database.max_conns", "must be from 0 (the default size) to 10000, not %d", n)
	}
	if c.Secrets.KeyFile == "" {
		bad("secrets.key_file", "must be set")
	}

	if _, err := mail.ParseAddress(c.Mail.From); err != nil {
		bad("mail.from", "must be an address such as \"Gatehouse <no-reply@example.com>\", not %q (%v)", c.Mail.From, err)
	}
	if p := c.Mail.SMTP.Port; p < 1 || p > 65535 {
		bad("mail.smtp.port", "must be from 1 to 65535, not %d", p)
	}
	oneOf("mail.smtp.tls", c.Mail.SMTP.TLS, "starttls", "tls", "none")
	if host := c.Mail.SMTP.Host; host != "" && c.Mail.SMTP.TLS == "none" && !isLoopbackHost(host) && !hostListed(c.Mail.SMTP.InsecureHosts, host) {
		bad("mail.smtp.tls", "none would send mail, one-time codes included, unencrypted to %s: use starttls or tls, or list %s in mail.smtp.insecure_hosts to accept that",
			host, host)
	}
	checkInsecureHosts(bad, "mail.smtp.insecure_hosts", c.Mail.SMTP.InsecureHosts)
	if c.Mail.SMTP.Host == "" && c.Mail.OutboxDir == "" {
		bad("mail.outbox_dir", "must be set when mail.smtp.host is empty: emails are written there")
	}

	// Every duration must be positive.
	for key, f := range configLeaves(reflect.ValueOf(c).Elem(), "") {
		if d, ok := f.Interface().(Duration); ok && d.Duration <= 0 {
			if key == "http.shutdown_delay" && d.Duration == 0 {
				continue // zero: no delay
			}
			if key == "audit.retention" && d.Duration == 0 {
				continue // zero: keep events forever
			}
			bad(key, "must be positive")
		}
	}

	c.validateBrand(bad)

	switch issuer := c.SecondFactor.TOTPIssuer; {
	case issuer == "":
		bad("second_factor.totp_issuer", "must be set")
	case strings.Contains(issuer, ":"):
		bad("second_factor.totp_issuer", "must not contain a colon")
	}
	atLeastOne("lockout.max_attempts", c.Lockout.MaxAttempts)
	atLeastOne("lockout.account_max_attempts", c.Lockout.AccountMaxAttempts)
	atLeastOne("password.max_attempts", c.Password.MaxAttempts)
	atLeastOne("password.ip_max_attempts", c.Password.IPMaxAttempts)
	atLeastOne("second_factor.email_max_per_account", c.SecondFactor.EmailMaxPerAccount)
	atLeastOne("second_factor.email_max_per_ip", c.SecondFactor.EmailMaxPerIP)

	if c.Session.IdleTimeout.Duration > c.Session.Lifetime.Duration {
		bad("session.idle_timeout", "must not exceed session.lifetime (%v)", c.Session.Lifetime)
	}
	// An emailed code is an out-of-band secret: NIST SP 800-63B §5.1.3.2
	// lets it live 10 minutes at most.
	if d := c.SecondFactor.EmailCodeTTL.Duration; d > maxEmailCodeTTL {
		bad("second_factor.email_code_ttl", "must be at most %v, not %v", maxEmailCodeTTL, d)
	}
	// A cooldown longer than a code lives leaves the user with a dead code
	// and no way to get another.
	if cd, ttl := c.SecondFactor.EmailResendCooldown.Duration, c.SecondFactor.EmailCodeTTL.Duration; ttl > 0 && cd > ttl {
		bad("second_factor.email_resend_cooldown", "must not exceed second_factor.email_code_ttl (%v), not %v", ttl, cd)
	}
	if c.Tokens.AuthCodeTTL.Duration > time.Minute {
		bad("tokens.auth_code_ttl", "must be at most 60s")
	}
	if a := c.Tokens.DefaultAudience; a != "" {
		if u, err := url.Parse(a); err != nil || !u.IsAbs() || strings.Contains(a, "#") {
			bad("tokens.default_audience", "must be an absolute URI without a fragment, such as https://api.example.com, not %q", a)
		}
	}
	oneOf("keys.algorithm", c.Keys.Algorithm, "RS256", "ES256", "EdDSA")
	if d := c.Housekeeping.Interval.Duration; d > 0 && d < time.Second {
		bad("housekeeping.interval", "must be at least 1s, not %v", d)
	}
	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf("log.format", c.Log.Format, "json", "text")

	return errors.Join(errs...)
}

// validateBrand reports, through bad, what is wrong with the brand
// section.
func (c *Config) validateBrand(bad func(key, format string, args ...any)) {
	b := c.Brand
	switch name := strings.TrimSpace(b.Name); {
	case name == "":
		bad("brand.name", "must be set")
	case len(b.Name) > 64:
		bad("brand.name", "must be at most 64 bytes")
	case strings.ContainsFunc(b.Name, unicode.IsControl):
		bad("brand.name", "must not contain control characters")
	}
	if ratio, err := templates.Contrast(b.PrimaryColor, "#ffffff"); err != nil || len(b.PrimaryColor) != len("#rrggbb") {
		bad("brand.primary_color", "must be a colour written #rrggbb, not %q", b.PrimaryColor)
	} else if ratio < 4.5 {
		bad("brand.primary_color", "%s has a contrast of %.2f:1 with white; links and button text need at least 4.5:1 (WCAG 2.2 1.4.3): choose a darker colour", b.PrimaryColor, ratio)
	}
	if b.Logo != "" && !strings.HasPrefix(b.Logo, "/") || strings.HasPrefix(b.Logo, "//") {
		if u, err := url.Parse(b.Logo); err != nil || u.Scheme != "https" || u.Host == "" {
			bad("brand.logo", "must be an https URL or a path on this server, such as /static/logo.svg, not %q", b.Logo)
		}
	}
	for _, l := range []struct{ key, value string }{
		{"brand.support_url", b.SupportURL}, {"brand.privacy_url", b.PrivacyURL}, {"brand.terms_url", b.TermsURL},
	} {
		if l.value == "" {
			continue
		}
		if u, err := url.Parse(l.value); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad(l.key, "must be an http or https URL, not %q", l.value)
		}
	}
	if d := b.TemplatesDir; d != "" {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			bad("brand.templates_dir", "must be a directory of page templates: %q is not one", d)
		}
	}
	if e := b.SupportEmail; e != "" {
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
			bad("brand.support_email", "must be an email address such as help@example.com, not %q", e)
		}
	}
}

// ListenerConflict reports, for serve, why the admin listener cannot
// listen beside the public one (the same port), or nil if it can. It is not
// part of Validate: the other commands listen on nothing, and a server
// whose http.address alone moved to the admin listener's default port
// (127.0.0.1:9090) is a valid configuration for them.
func (c *Config) ListenerConflict() error {
	if c.Admin.Address == "off" || !sameListener(c.HTTP.Address, c.Admin.Address) {
		return nil
	}
	return fmt.Errorf("admin.address (%s) and http.address (%s) are the same port: give admin.address another port, or off",
		c.Admin.Address, c.HTTP.Address)
}

// sameListener reports whether listening on a and on b would take the
// same port: the same port number, not 0, on the same host or with either
// on every address (an empty, 0.0.0.0 or :: host).
func sameListener(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb || pa == "0" {
		return false
	}
	any := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return any(ha) || any(hb) || strings.EqualFold(ha, hb)
}

// localIssuer returns the issuer of a server listening on address when no
// issuer is configured: the default issuer (http://localhost:8080) moved to
// the listener's port when the listener is on this machine only (loopback
// or localhost), so that GATEHOUSE_HTTP_ADDRESS=127.0.0.1:8081 alone serves
// a working http://localhost:8081. Otherwise (all interfaces, another
// host, the default port) it returns def: such a server needs its public
// URL configured.
func localIssuer(address, def string) string {
	host, port, err := net.SplitHostPort(address)
	if err != nil || port == "8080" {
		return def
	}
	if ip, err := netip.ParseAddr(host); !(host == "localhost" || err == nil && ip.IsLoopback()) {
		return def
	}
	u, err := url.Parse(def)
	if err != nil || u.Hostname() != "localhost" {
		return def
	}
	u.Host = net.JoinHostPort("localhost", port)
	return u.String()
}

// issuerPathOK reports whether p, an issuer's escaped path, is one
// Gatehouse can serve everything under (cmd/gatehouse/basepath.go): none,
// or segments of unreserved characters (RFC 3986), none empty, "." or "..".
func issuerPathOK(p string) bool {
	if p == "" {
		return true
	}
	if !strings.HasPrefix(p, "/") {
		return false
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for _, c := range seg {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("-._~", c)) {
				return false
			}
		}
	}
	return true
}

// checkIssuer reports why s cannot be an OpenID Connect issuer.
func checkIssuer(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		return fmt.Errorf("must be an absolute URL such as https://id.example.com, not %q", s)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("must be an https URL, not %s", u.Scheme)
	case u.User != nil:
		return errors.New("must not contain a user name or password")
	case u.RawQuery != "" || u.ForceQuery:
		return errors.New("must not have a query")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return errors.New("must not have a fragment")
	case strings.HasSuffix(u.Path, "/"):
		return errors.New("must not end with a slash")
	case !issuerPathOK(u.EscapedPath()):
		return fmt.Errorf("the path %q must be segments of letters, digits and . _ ~ - (such as /auth or /sso/id), "+
			"without empty, . or .. segments or escapes", u.EscapedPath())
	case u.Scheme == "http" && !slices.Contains([]string{"localhost", "127.0.0.1", "::1"}, u.Hostname()):
		return errors.New("must use https (http is allowed only for localhost)")
	}
	return nil
}

// isLoopbackHost reports whether host is "localhost" or a loopback IP
// address (127.0.0.0/8, ::1).
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// hostListed reports whether host is one of hosts, ignoring case.
func hostListed(hosts []string, host string) bool {
	return slices.ContainsFunc(hosts, func(h string) bool { return strings.EqualFold(h, host) })
}

// checkInsecureHosts reports, through bad, the entries of the list key
// that are not a host name or an IP address.
func checkInsecureHosts(bad func(key, format string, args ...any), key string, hosts []string) {
	for _, h := range hosts {
		if _, err := netip.ParseAddr(h); err == nil {
			continue
		}
		if h == "" || strings.ContainsAny(h, ":/@?# \t") {
			bad(key, "%q is not a host name or an IP address (write it without a scheme or port)", h)
		}
	}
}

// checkPostgresTLS returns an error for each host the PostgreSQL URL dsn
// would connect to without verified TLS (sslmode other than verify-full),
// unless the host is loopback, a unix socket or one of insecure. It reads
// dsn as pgx does, PG… environment variables included. No error holds the
// URL's password.
func checkPostgresTLS(dsn string, insecure []string) []error {
	pc, err := pgconn.ParseConfig(dsn)
	if err != nil {
		// pgconn's error shows the URL with its password masked.
		return []error{err}
	}
	type link struct {
		host string
		tls  *tls.Config
	}
	links := []link{{pc.Host, pc.TLSConfig}}
	for _, f := range pc.Fallbacks {
		links = append(links, link{f.Host, f.TLSConfig})
	}
	var errs []error
	var refused []string
	for _, l := range links {
		switch {
		case strings.HasPrefix(l.host, "/"), isLoopbackHost(l.host):
		case l.tls != nil && !l.tls.InsecureSkipVerify:
		case hostListed(insecure, l.host), slices.Contains(refused, l.host):
		default:
			refused = append(refused, l.host)
			errs = append(errs, fmt.Errorf("the link to %s is not verified TLS: add sslmode=verify-full to the URL, or list %s in database.insecure_hosts to accept that",
				l.host, l.host))
		}
	}
	return errs
}

// insecureLinks returns, for the start-up warning, a description of each
// link to another host that c allows without verified TLS because the host
// is listed in mail.smtp.insecure_hosts or database.insecure_hosts.
func (c *Config) insecureLinks() []string {
	var links []string
	if host := c.Mail.SMTP.Host; host != "" && c.Mail.SMTP.TLS == "none" && !isLoopbackHost(host) {
		links = append(links, "SMTP to "+host+" without TLS (mail.smtp.insecure_hosts)")
	}
	if driver, dsn, _ := databaseDriver(c.Database.URL); driver == "postgres" && len(c.Database.InsecureHosts) > 0 {
		if pc, err := pgconn.ParseConfig(dsn); err == nil {
			hosts := []*pgconn.FallbackConfig{{Host: pc.Host, TLSConfig: pc.TLSConfig}}
			hosts = append(hosts, pc.Fallbacks...)
			var seen []string
			for _, f := range hosts {
				if (f.TLSConfig == nil || f.TLSConfig.InsecureSkipVerify) && hostListed(c.Database.InsecureHosts, f.Host) &&
					!slices.Contains(seen, f.Host) {
					seen = append(seen, f.Host)
					links = append(links, "PostgreSQL to "+f.Host+" without verified TLS (database.insecure_hosts)")
				}
			}
		}
	}
	return links
}

// IssuerPortMismatch describes, for a start-up warning, an issuer that
// names this machine (localhost or a loopback address) on another port
// than the one the server listens on: relying parties and browsers would
// be sent there. It returns "" when there is no such mismatch (or a proxy
// may well sit on the issuer's port: the issuer is https).
func (c *Config) IssuerPortMismatch() string {
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Scheme != "http" {
		return ""
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); !(host == "localhost" || err == nil && ip.IsLoopback()) {
		return ""
	}
	issuerPort := u.Port()
	if issuerPort == "" {
		issuerPort = "80"
	}
	_, port, err := net.SplitHostPort(c.HTTP.Address)
	if err != nil || port == issuerPort {
		return ""
	}
	return fmt.Sprintf("the issuer %s is on port %s but the server listens on %s: set issuer (GATEHOUSE_ISSUER) to the URL browsers use, "+
		"unless a proxy on port %s forwards to this server", c.Issuer, issuerPort, c.HTTP.Address, issuerPort)
}

// WarnInsecureLinks logs a warning for each of c.insecureLinks.
func (c *Config) WarnInsecureLinks(logger *slog.Logger) {
	for _, l := range c.insecureLinks() {
		logger.Warn("link without verified TLS, allowed by configuration", "link", l)
	}
}

// TrustedProxies returns http.trusted_proxies parsed, with host bits cleared
// and single addresses as /32 or /128 prefixes. Entries that do not parse,
// which Validate reports, are left out.
func (c *Config) TrustedProxies() []netip.Prefix {
	var prefixes []netip.Prefix
	for _, s := range c.HTTP.TrustedProxies {
		if p, err := parseTrustedProxy(s); err == nil {
			prefixes = append(prefixes, p)
		}
	}
	return prefixes
}

func parseTrustedProxy(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	addr, err := netip.ParseAddr(s)
	if err != nil || addr.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (such as 10.0.0.0/8) or an IP address", s)
	}
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

// DatabaseDriver returns the driver for database.url, "sqlite" or
// "postgres", and the data source name to open it with: the path after
// "sqlite:", or the whole postgres URL. It returns two empty strings for a
// URL that Validate refuses.
func (c *Config) DatabaseDriver() (driver, dsn string) {
	driver, dsn, _ = databaseDriver(c.Database.URL)
	return driver, dsn
}

func databaseDriver(s string) (driver, dsn string, ok bool) {
	if path, ok := strings.CutPrefix(s, "sqlite:"); ok && path != "" {
		return "sqlite", path, true
	}
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		if _, err := url.Parse(s); err == nil {
			return "postgres", s, true
		}
	}
	return "", "", false
}

// Redacted returns a copy of c with its secrets hidden: the SMTP password and
// any password in database.url.
//
// It and LogValue have value receivers so that a Config is redacted whether
// it is logged by value or by pointer.
func (c Config) Redacted() Config {
	const redacted = "REDACTED"
	c.HTTP.TrustedProxies = slices.Clone(c.HTTP.TrustedProxies)
	c.Database.InsecureHosts = slices.Clone(c.Database.InsecureHosts)
	c.Mail.SMTP.InsecureHosts = slices.Clone(c.Mail.SMTP.InsecureHosts)
	if c.Mail.SMTP.Password != "" {
		c.Mail.SMTP.Password = redacted
	}
	if u, err := url.Parse(c.Database.URL); err != nil {
		c.Database.URL = redacted
	} else if _, ok := u.User.Password(); ok {
		c.Database.URL = u.Redacted()
	}
	return c
}

// LogValue implements slog.LogValuer: it returns Redacted as nested groups
// keyed like the YAML file, so that logging a Config never reveals a secret.
func (c Config) LogValue() slog.Value {
	r := c.Redacted()
	return configLogValue(reflect.ValueOf(r))
}

func configLogValue(v reflect.Value) slog.Value {
	t := v.Type()
	attrs := make([]slog.Attr, t.NumField())
	for i := range attrs {
		name := configKeyName(t.Field(i))
		f := v.Field(i)
		switch x := f.Interface().(type) {
		case Duration:
			attrs[i] = slog.String(name, x.String())
		default:
			if isConfigSection(f) {
				attrs[i] = slog.Attr{Key: name, Value: configLogValue(f)}
			} else {
				attrs[i] = slog.Any(name, x)
			}
		}
	}
	return slog.GroupValue(attrs...)
}
