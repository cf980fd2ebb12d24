package vaultcli

// vault-cli doctor: checks a whole installation (daemon, socket, store, gpg
// key, state directory, units, tokens, rotations, leftover .env files) and
// prints one finding per check with what to run to fix it.
//
// What it deliberately does not do: change anything, read a secret, or print
// a value. Messages name variables, tokens and files, never their contents;
// .env files are parsed only to learn which names look secret.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/migrate"
	"github.com/jamditis/jawn-vault/vaultd/config"
	"github.com/jamditis/jawn-vault/vaultd/passstore"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// Finding statuses, from best to worst. Info is a check that was skipped
// or only informs; it does not change the exit status.
const (
	StatusOK   = "ok"
	StatusInfo = "info"
	StatusWarn = "warn"
	StatusFail = "fail"
)

// Doctor's exit statuses.
const (
	DoctorOK   = 0 // every finding ok or info
	DoctorWarn = 1 // at least one warn, no fail
	DoctorFail = 2 // at least one fail
)

// Finding is one result of vault-cli doctor. Check is a stable name that
// docs/runbook.md refers to; Fix is a command to run ("" when ok).
type Finding struct {
	Check   string `json:"check"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// DoctorReport is what --json prints.
type DoctorReport struct {
	Findings []Finding `json:"findings"`
}

// Exit returns the report's exit status.
func (r DoctorReport) Exit() int {
	code := DoctorOK
	for _, f := range r.Findings {
		switch f.Status {
		case StatusFail:
			return DoctorFail
		case StatusWarn:
			code = DoctorWarn
		}
	}
	return code
}

// dbName is the daemon's database in the state directory (vaultd/daemon's
// DBName; not imported, so vault-cli does not link the daemon).
const dbName = "jawn-vault.db"

// Thresholds for the token checks.
const (
	expiringWithin = 7 * 24 * time.Hour
	unusedFor      = 30 * 24 * time.Hour
)

type doctor struct {
	a        *app
	cfgPath  string
	unitsDir string
	envGlobs []string
	cfg      *config.Config
	findings []Finding
	now      time.Time
}

func (d *doctor) add(check, status, msg, fix string) {
	if status == StatusOK {
		fix = ""
	}
	d.findings = append(d.findings, Finding{Check: check, Status: status, Message: msg, Fix: fix})
}

func (a *app) doctorCmd() *cobra.Command {
	d := &doctor{a: a}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the whole setup: daemon, socket, store, gpg key, state, units, tokens",
		Long: `doctor checks a Jawn Vault installation and prints one finding per check,
each ok, info (skipped or informational), warn or fail, with the command that
fixes it. It changes nothing and never prints a secret value or a token.

Checks: the config file; the daemon answers (health, version, store and audit
status); the socket's mode and group against the config; the pass store is
readable and has a .gpg-id whose recipients are in the keyring; the gpg key
decrypts without a prompt; the state directory is 0700 and the database
0600; systemd-analyze security of the installed jawn-vault units; as admin
(the daemon's owner, or VAULT_TOKEN / --token-file with an admin grant):
tokens expiring within 7 days or unused for 30 days, rotations failing, in
doubt or needing re-authorisation; units in --units-dir still reading
secrets from EnvironmentFile=; plaintext .env files matching --env-files.

docs/runbook.md has a procedure for each finding, by its check name.

Exit status: 0 everything ok, 1 at least one warn, 2 at least one fail,
64 usage.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep := d.run(cmd.Context(), cmd.Flags().Changed("config"))
			if asJSON {
				if err := a.printJSON(rep); err != nil {
					return err
				}
			} else {
				writeFindings(a.io.Stdout, rep)
			}
			if code := rep.Exit(); code != DoctorOK {
				// Not an error: the report is written; only the status says
				// that something needs attention.
				return exitStatus(code)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&d.cfgPath, "config", "", "config file (default $XDG_CONFIG_HOME/jawn-vault/config.toml, else /etc/jawn-vault/config.toml)")
	f.BoolVar(&asJSON, "json", false, `print {"findings":[{"check","status","message","fix"}]}`)
	f.StringVar(&d.unitsDir, "units-dir", "/etc/systemd/system", "where the installed units are")
	f.StringArrayVar(&d.envGlobs, "env-files", nil, "glob of plaintext .env files that should be gone (repeatable)")
	return cmd
}

func writeFindings(w io.Writer, rep DoctorReport) {
	counts := map[string]int{}
	for _, f := range rep.Findings {
		counts[f.Status]++
		fmt.Fprintf(w, "%-4s  %-16s %s\n", f.Status, f.Check, f.Message)
		if f.Fix != "" {
			fmt.Fprintf(w, "      %-16s fix: %s\n", "", f.Fix)
		}
	}
	fmt.Fprintf(w, "doctor: %d fail, %d warn, %d ok, %d info\n", counts[StatusFail], counts[StatusWarn], counts[StatusOK], counts[StatusInfo])
}

// run performs every check in order.
func (d *doctor) run(ctx context.Context, explicit bool) DoctorReport {
	d.now = time.Now()
	d.checkConfig(explicit)
	c := d.checkDaemon(ctx)
	d.checkSocket()
	d.checkStore(ctx)
	d.checkState()
	d.checkUnitSecurity(ctx)
	if c != nil {
		d.checkAdmin(ctx, c)
		c.Close()
	} else {
		d.add("admin", StatusInfo, "token and rotation checks skipped: the daemon does not answer", "")
	}
	d.checkUnitEnvFiles()
	d.checkEnvFiles()
	return DoctorReport{Findings: d.findings}
}

func (d *doctor) checkConfig(explicit bool) {
	path := d.cfgPath
	if !explicit {
		path = config.DefaultPath()
	}
	cfg, err := config.Load(path, explicit)
	if err != nil {
		d.add("config", StatusFail, firstLine(err.Error()), "fix the file ("+path+"); docs/CONFIGURATION.md lists every setting")
		cfg = &config.Config{}
		_ = cfg.Defaults()
	} else if cfg.File == "" {
		d.add("config", StatusInfo, "no config file at "+path+"; using the defaults", "")
	} else {
		d.add("config", StatusOK, "read "+cfg.File, "")
	}
	// --socket overrides the config, as for every other command.
	if d.a.socket != "" {
		cfg.Socket = d.a.socket
	}
	d.cfg = cfg
}

const startFix = "start it: systemctl start jawn-vault.socket (system), systemctl --user start jawn-vault (user), or jawn-vault dev to try things out; then journalctl -u jawn-vault"

// checkDaemon asks for health and status; it returns the connection for
// the admin checks, or nil if the daemon does not answer.
func (d *doctor) checkDaemon(ctx context.Context) *vault.Client {
	sock := d.cfg.Socket
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	token, err := d.a.token()
	if err != nil {
		d.add("daemon", StatusFail, err.Error(), "check --token-file")
		return nil
	}
	c, err := vault.Dial(dctx, vault.Options{Socket: sock, Token: token})
	if err != nil {
		d.add("daemon", StatusFail, "the daemon does not answer on "+sock, startFix)
		return nil
	}
	h, err := c.Health(dctx)
	if err != nil {
		c.Close()
		d.add("daemon", StatusFail, "the daemon on "+sock+" did not answer health: "+vault.Describe(err), startFix)
		return nil
	}
	d.add("daemon", StatusOK, fmt.Sprintf("jawn-vault %s answers on %s (protocol %d, %s)", h.Version, sock, h.Protocol, h.Status), "")
	st, err := c.Status(dctx)
	if err != nil {
		d.add("status", StatusInfo, "status not available to this caller: "+vault.Describe(err), "")
		return c
	}
	if st.Store.OK {
		d.add("store-live", StatusOK, "the daemon's "+st.Store.Kind+" store is usable", "")
	} else {
		d.add("store-live", StatusFail, "the daemon reports its store unusable: "+firstLine(st.Store.Error), "see the store and gpg-key findings; docs/runbook.md \"store unreadable\"")
	}
	switch {
	case !st.Audit.Healthy:
		d.add("audit", StatusFail, fmt.Sprintf("the audit log cannot be written (%d failed writes, %d queued): requests answer audit_unavailable", st.Audit.Failed, st.Audit.QueueDepth), "df -h "+d.cfg.StateDir+"; free space, then systemctl restart jawn-vault")
	default:
		d.add("audit", StatusOK, fmt.Sprintf("audit log healthy (%d records committed)", st.Audit.Committed), "")
	}
	return c
}

func (d *doctor) checkSocket() {
	sock := d.cfg.Socket
	want, err := d.cfg.Mode()
	if err != nil {
		d.add("socket", StatusFail, firstLine(err.Error()), "set socket_mode to \"0600\" (or \"0660\" with socket_group)")
		return
	}
	fi, err := os.Lstat(sock)
	if err != nil {
		d.add("socket", StatusFail, "no socket at "+sock, startFix)
		return
	}
	if fi.Mode().Type() != os.ModeSocket {
		d.add("socket", StatusFail, sock+" is not a socket", "remove "+sock+" and restart jawn-vault")
		return
	}
	got := fi.Mode().Perm()
	wantDesc := fmt.Sprintf("%04o", want)
	if d.cfg.SocketGroup != "" {
		wantDesc += " group " + d.cfg.SocketGroup
	}
	fix := fmt.Sprintf("chmod %04o %s (and restart jawn-vault so it recreates it as configured)", want, sock)
	switch {
	case got&^want != 0:
		d.add("socket", StatusFail, fmt.Sprintf("%s has mode %04o, wider than the configured %s: other users may connect", sock, got, wantDesc), fix)
		return
	case got != want:
		d.add("socket", StatusWarn, fmt.Sprintf("%s has mode %04o, narrower than the configured %s: allowed clients may be refused", sock, got, wantDesc), fix)
		return
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && d.cfg.SocketGroup != "" {
		g, err := user.LookupGroup(d.cfg.SocketGroup)
		if err != nil {
			d.add("socket", StatusFail, "socket_group "+d.cfg.SocketGroup+" does not exist", "groupadd "+d.cfg.SocketGroup+" (or fix socket_group)")
			return
		}
		if strconv.FormatUint(uint64(st.Gid), 10) != g.Gid {
			d.add("socket", StatusFail, fmt.Sprintf("%s belongs to gid %d, not group %s", sock, st.Gid, d.cfg.SocketGroup), "chgrp "+d.cfg.SocketGroup+" "+sock+" (and restart jawn-vault)")
			return
		}
	}
	d.add("socket", StatusOK, fmt.Sprintf("%s has mode %s as configured", sock, wantDesc), "")
}

func (d *doctor) checkStore(ctx context.Context) {
	cfg := d.cfg
	if cfg.Backend != "pass" {
		d.add("store", StatusInfo, "backend "+cfg.Backend+": no pass store to check", "")
		return
	}
	s, err := passstore.Open(passstore.Options{Dir: cfg.Store, GPG: cfg.GPG, GnuPGHome: cfg.GnuPGHome, Timeout: cfg.GPGTimeout.Duration})
	if err != nil {
		d.add("store", StatusFail, firstLine(err.Error()), hintOf(err, "create it with `pass init KEY-ID`, or set store in the config"))
		return
	}
	defer s.Close()
	if err := s.Check(ctx); err != nil {
		check, fix := "store", "check the store's permissions: ls -la "+cfg.Store
		if _, statErr := os.Stat(filepath.Join(cfg.Store, ".gpg-id")); statErr != nil {
			check, fix = "gpg-id", "PASSWORD_STORE_DIR="+cfg.Store+" pass init KEY-ID (or restore .gpg-id from git: git -C "+cfg.Store+" checkout .gpg-id)"
		}
		d.add(check, StatusFail, firstLine(err.Error()), fix)
		return
	}
	d.add("store", StatusOK, cfg.Store+" is readable and has a .gpg-id", "")
	d.checkRecipients(ctx)
	kctx, cancel := context.WithTimeout(ctx, 2*cfg.GPGTimeout.Duration+5*time.Second)
	defer cancel()
	if err := s.CheckKey(kctx); err != nil {
		d.add("gpg-key", StatusFail, "the key does not decrypt without a prompt: "+firstLine(err.Error()),
			"unlock it in gpg-agent as the daemon's user (for example `pass show SOME/ENTRY` once), or preset the passphrase; docs/runbook.md \"gpg-agent\"")
		return
	}
	d.add("gpg-key", StatusOK, "gpg encrypts to the store's recipients and decrypts without a prompt", "")
}

// checkRecipients looks each root .gpg-id recipient up in the keyring.
func (d *doctor) checkRecipients(ctx context.Context) {
	b, err := os.ReadFile(filepath.Join(d.cfg.Store, ".gpg-id"))
	if err != nil {
		d.add("recipients", StatusFail, "reading .gpg-id: "+err.Error(), "ls -la "+d.cfg.Store)
		return
	}
	var ids, missing []string
	for line := range strings.SplitSeq(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "-") {
			ids = append(ids, line)
		}
	}
	gpg := d.cfg.GPG
	if gpg == "" {
		gpg = "gpg"
	}
	for _, id := range ids {
		lctx, cancel := context.WithTimeout(ctx, d.cfg.GPGTimeout.Duration)
		cmd := exec.CommandContext(lctx, gpg, "--batch", "--with-colons", "--list-keys", "--", id)
		if d.cfg.GnuPGHome != "" {
			cmd.Env = append(os.Environ(), "GNUPGHOME="+d.cfg.GnuPGHome)
		}
		err := cmd.Run()
		cancel()
		if err != nil {
			missing = append(missing, id)
		}
	}
	home := d.cfg.GnuPGHome
	if home == "" {
		home = "$GNUPGHOME or ~/.gnupg"
	}
	switch {
	case len(ids) == 0:
		d.add("recipients", StatusFail, ".gpg-id names no key", "PASSWORD_STORE_DIR="+d.cfg.Store+" pass init KEY-ID")
	case len(missing) > 0:
		d.add("recipients", StatusFail, fmt.Sprintf("recipient(s) %s not in the keyring %s", strings.Join(missing, ", "), home),
			"import the key(s): gpg --import KEY.asc (with GNUPGHOME="+home+")")
	default:
		d.add("recipients", StatusOK, fmt.Sprintf("%d recipient(s) of .gpg-id in the keyring", len(ids)), "")
	}
}

func (d *doctor) checkState() {
	dir := d.cfg.StateDir
	fi, err := os.Stat(dir)
	if err != nil {
		d.add("state-dir", StatusWarn, "no state directory at "+dir+" (the daemon creates it on first start)", "start jawn-vault, or set state_dir in the config")
		return
	}
	if p := fi.Mode().Perm(); p&0o077 != 0 {
		d.add("state-dir", StatusFail, fmt.Sprintf("%s has mode %04o; others can reach the token database", dir, p), "chmod 0700 "+dir)
	} else {
		d.add("state-dir", StatusOK, dir+" is 0700", "")
	}
	for _, name := range []string{dbName, dbName + ".journal"} {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			if name == dbName {
				d.add("database", StatusWarn, "no database at "+p, "start jawn-vault (it creates the database), or restore it: docs/runbook.md \"restore\"")
			}
			continue
		}
		check := "database"
		if name != dbName {
			check = "audit-journal"
		}
		if m := fi.Mode().Perm(); m&0o077 != 0 {
			d.add(check, StatusFail, fmt.Sprintf("%s has mode %04o", p, m), "chmod 0600 "+p)
		} else {
			d.add(check, StatusOK, p+" is 0600", "")
		}
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for [^:]+: ([0-9.]+) (\w+)`)

func (d *doctor) checkUnitSecurity(ctx context.Context) {
	units := []string{"jawn-vault.service", "jawn-vault-rotator.service"}
	var found []string
	for _, u := range units {
		if _, err := os.Stat(filepath.Join(d.unitsDir, u)); err == nil {
			found = append(found, u)
		}
	}
	if len(found) == 0 {
		d.add("unit-security", StatusInfo, "no jawn-vault units in "+d.unitsDir+"; sandbox not checked", "")
		return
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		d.add("unit-security", StatusInfo, "systemd-analyze not installed; sandbox not checked", "")
		return
	}
	for _, u := range found {
		path := filepath.Join(d.unitsDir, u)
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := exec.CommandContext(sctx, "systemd-analyze", "security", "--offline=yes", path).CombinedOutput()
		cancel()
		m := exposureRE.FindSubmatch(out)
		if m == nil {
			d.add("unit-security", StatusWarn, fmt.Sprintf("%s: systemd-analyze gave no score (%v)", path, err), "systemd-analyze security --offline=yes "+path)
			continue
		}
		score, level := string(m[1]), string(m[2])
		if level == "SAFE" || level == "OK" {
			d.add("unit-security", StatusOK, fmt.Sprintf("%s exposure %s %s", u, score, level), "")
		} else {
			d.add("unit-security", StatusWarn, fmt.Sprintf("%s exposure %s %s: its sandbox is weaker than the shipped unit's", u, score, level),
				"diff -u deploy/"+u+" "+path+"; systemd-analyze security --offline=yes "+path)
		}
	}
}

// checkAdmin runs the checks that need an admin: tokens and rotations.
func (d *doctor) checkAdmin(ctx context.Context, c *vault.Client) {
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	toks, err := c.TokenList(actx)
	if err != nil {
		switch wire.CodeOf(err) {
		case wire.CodeUnauthenticated, wire.CodePermissionDenied:
			d.add("admin", StatusInfo, "token and rotation checks skipped: not the daemon's owner and no admin token ("+string(wire.CodeOf(err))+")", "")
		default:
			d.add("admin", StatusWarn, "token.list failed: "+vault.Describe(err), "see the daemon log: journalctl -u jawn-vault")
		}
		return
	}
	var expiring, expired, unused []string
	for _, t := range toks {
		if t.ExpiresAt != nil {
			left := t.ExpiresAt.Sub(d.now)
			switch {
			case left <= 0:
				expired = append(expired, t.Name)
			case left <= expiringWithin:
				expiring = append(expiring, fmt.Sprintf("%s (in %s)", t.Name, left.Round(time.Minute)))
			}
		}
		last := t.CreatedAt
		if t.LastUsedAt != nil {
			last = *t.LastUsedAt
		}
		if d.now.Sub(last) >= unusedFor {
			never := ""
			if t.LastUsedAt == nil {
				never = ", never used"
			}
			unused = append(unused, fmt.Sprintf("%s (%dd%s)", t.Name, int(d.now.Sub(last).Hours()/24), never))
		}
	}
	sort.Strings(expiring)
	sort.Strings(unused)
	if len(expiring)+len(expired) > 0 {
		msg := ""
		if len(expiring) > 0 {
			msg = "expiring within 7 days: " + strings.Join(expiring, ", ")
		}
		if len(expired) > 0 {
			msg = strings.TrimPrefix(msg+"; expired: "+strings.Join(expired, ", "), "; ")
		}
		d.add("tokens-expiring", StatusWarn, msg, "issue a replacement (vault-cli token create NAME-new --grant PATTERN -p LEVEL --ttl ...), hand it to the service, then vault-cli token revoke NAME")
	} else {
		d.add("tokens-expiring", StatusOK, fmt.Sprintf("no token of %d expires within 7 days", len(toks)), "")
	}
	if len(unused) > 0 {
		d.add("tokens-unused", StatusWarn, "unused for 30+ days: "+strings.Join(unused, ", "), "if nothing needs it: vault-cli token revoke NAME")
	} else {
		d.add("tokens-unused", StatusOK, "every token was used in the last 30 days", "")
	}

	rots, err := c.RotationStatus(actx)
	if err != nil {
		d.add("rotation", StatusWarn, "rotation.status failed: "+vault.Describe(err), "see the daemon log: journalctl -u jawn-vault")
		return
	}
	bad := 0
	for _, r := range rots {
		switch {
		case r.State == wire.RotationInDoubt:
			bad++
			d.add("rotation", StatusFail, r.Name+" is in doubt: an attempt died after the provider answered",
				"check the service still works with the stored token (re-authorise and vault-cli set the refresh token if not), then vault-cli rotation clear "+r.Name)
		case r.Permanent:
			bad++
			d.add("rotation", StatusFail, fmt.Sprintf("%s needs re-authorisation (last error %s)", r.Name, r.LastError),
				"re-authorise the app, store the new refresh token with vault-cli set, then vault-cli rotate "+r.Name)
		case r.Failures > 0:
			bad++
			d.add("rotation", StatusWarn, fmt.Sprintf("%s failed %d time(s) in a row (last error %s)", r.Name, r.Failures, r.LastError),
				"vault-cli rotate "+r.Name+" to retry now; journalctl -u jawn-vault-rotator")
		}
	}
	if bad == 0 {
		d.add("rotation", StatusOK, fmt.Sprintf("%d rotation(s), none failing or in doubt", len(rots)), "")
	}
}

// checkUnitEnvFiles finds units in --units-dir (and their drop-ins) that
// still read EnvironmentFile= files holding secret-looking names.
func (d *doctor) checkUnitEnvFiles() {
	// Units with a file here, and units with only drop-ins here (their
	// file lives elsewhere, in a vendor directory).
	set := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(d.unitsDir, "*.service"))
	dirs, _ := filepath.Glob(filepath.Join(d.unitsDir, "*.service.d"))
	for _, f := range files {
		set[filepath.Base(f)] = true
	}
	for _, dir := range dirs {
		set[strings.TrimSuffix(filepath.Base(dir), ".d")] = true
	}
	units := make([]string, 0, len(set))
	for u := range set {
		units = append(units, u)
	}
	sort.Strings(units)
	hits := 0
	for _, unit := range units {
		f := filepath.Join(d.unitsDir, unit)
		// The unit file, then its drop-ins in the order systemd applies
		// them (by file name), so that an empty EnvironmentFile= — which
		// vault-migrate's drop-in writes — resets the list as it does for
		// systemd.
		dropins, _ := filepath.Glob(filepath.Join(d.unitsDir, unit+".d", "*.conf"))
		sort.Slice(dropins, func(i, j int) bool { return filepath.Base(dropins[i]) < filepath.Base(dropins[j]) })
		var envFiles []migrate.Assignment
		for _, file := range append([]string{f}, dropins...) {
			b, err := os.ReadFile(file)
			if err != nil {
				continue
			}
			as, err := migrate.ParseUnitFile(b, file)
			if err != nil {
				d.add("unit-envfile", StatusWarn, file+": "+firstLine(err.Error()), "fix the unit file's syntax")
				hits++
				continue
			}
			for _, a := range as {
				if a.Section != "Service" || a.Key != "EnvironmentFile" {
					continue
				}
				if a.Value == "" {
					envFiles = envFiles[:0]
				} else {
					envFiles = append(envFiles, a)
				}
			}
		}
		for _, a := range envFiles {
			path, optional := strings.CutPrefix(a.Value, "-")
			names, err := secretNames(path, optional)
			switch {
			case err != nil:
				hits++
				fix := "vault-migrate " + unit + " (to see the plan)"
				if errors.Is(err, fs.ErrPermission) {
					fix = "run vault-cli doctor as root to check it, then " + fix
				}
				d.add("unit-envfile", StatusWarn, fmt.Sprintf("%s uses EnvironmentFile=%s, which cannot be read: %s", a.Where(), path, firstLine(err.Error())), fix)
			case len(names) > 0:
				hits++
				d.add("unit-envfile", StatusWarn, fmt.Sprintf("%s reads EnvironmentFile=%s with secret-looking %s", a.Where(), path, strings.Join(names, ", ")),
					"vault-migrate "+unit+" (review the plan), then vault-migrate --yes --remove-env-files "+unit)
			}
		}
	}
	if hits == 0 {
		d.add("unit-envfile", StatusOK, "no unit in "+d.unitsDir+" reads secrets from an EnvironmentFile=", "")
	}
}

// secretNames parses an .env file and returns the names that look like
// secrets, sorted. It never returns a value.
func secretNames(path string, optional bool) ([]string, error) {
	ef, err := migrate.Scope{}.ReadEnvFile(migrate.EnvFileRef{Path: path, Optional: optional, Where: path})
	if err != nil {
		return nil, err
	}
	var names []string
	for name, val := range ef.Vars {
		if secret, _ := (migrate.Classifier{}).Classify(name, val); secret {
			names = append(names, name)
		}
	}
	for k := range ef.Vars {
		ef.Vars[k] = ""
	}
	sort.Strings(names)
	return names, nil
}

// checkEnvFiles reports plaintext .env files still present.
func (d *doctor) checkEnvFiles() {
	if len(d.envGlobs) == 0 {
		d.add("env-files", StatusInfo, "no --env-files given; leftover .env files not checked", "")
		return
	}
	hits := 0
	for _, g := range d.envGlobs {
		matches, err := filepath.Glob(g)
		if err != nil {
			d.add("env-files", StatusWarn, fmt.Sprintf("--env-files %q is not a valid glob", g), "")
			continue
		}
		for _, m := range matches {
			fi, err := os.Stat(m)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			hits++
			names, err := secretNames(m, false)
			readable := fi.Mode().Perm()&0o004 != 0
			switch {
			case err != nil:
				d.add("env-files", StatusWarn, fmt.Sprintf("%s is left behind (%s)", m, firstLine(err.Error())), "check it, then shred -u "+m)
			case len(names) == 0:
				d.add("env-files", StatusWarn, m+" is left behind (no secret-looking names)", "if no unit reads it: rm "+m)
			case readable:
				d.add("env-files", StatusFail, fmt.Sprintf("%s (mode %04o, world-readable) holds secret-looking %s in plaintext", m, fi.Mode().Perm(), strings.Join(names, ", ")),
					"chmod 0600 "+m+" now; migrate its unit with vault-migrate, then shred -u "+m)
			default:
				d.add("env-files", StatusWarn, fmt.Sprintf("%s holds secret-looking %s in plaintext", m, strings.Join(names, ", ")),
					"migrate its unit with vault-migrate --remove-env-files, or once the values are in the vault: shred -u "+m)
			}
		}
	}
	if hits == 0 {
		d.add("env-files", StatusOK, "no plaintext .env file matches "+strings.Join(d.envGlobs, " "), "")
	}
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// hintOf returns the "hint:" line an error carries, else def.
func hintOf(err error, def string) string {
	var s string
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if h, ok := strings.CutPrefix(line, "hint: "); ok {
			s = h
		}
	}
	if s == "" {
		return def
	}
	return s
}
