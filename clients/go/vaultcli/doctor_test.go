package vaultcli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDoctorReportExit(t *testing.T) {
	for _, tc := range []struct {
		statuses []string
		want     int
	}{
		{nil, DoctorOK},
		{[]string{StatusOK, StatusInfo}, DoctorOK},
		{[]string{StatusOK, StatusWarn, StatusInfo}, DoctorWarn},
		{[]string{StatusFail, StatusWarn}, DoctorFail},
		{[]string{StatusWarn, StatusOK, StatusFail}, DoctorFail},
	} {
		var r DoctorReport
		for _, s := range tc.statuses {
			r.Findings = append(r.Findings, Finding{Check: "x", Status: s})
		}
		if got := r.Exit(); got != tc.want {
			t.Errorf("%v: exit %d, want %d", tc.statuses, got, tc.want)
		}
	}
}

// TestSecretNamesNeverReturnsValues: the .env scan returns names only.
func TestSecretNamesNeverReturnsValues(t *testing.T) {
	env := filepath.Join(t.TempDir(), "x.env")
	content := "API_KEY=value-one-1234\nDATABASE_URL=postgres://u:pw-two@h/db\nLOG_LEVEL=debug\n"
	if err := os.WriteFile(env, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	names, err := secretNames(env, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"API_KEY", "DATABASE_URL"}; !slices.Equal(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
	if _, err := secretNames(filepath.Join(t.TempDir(), "missing.env"), true); err != nil {
		t.Errorf("a missing optional file is not an error: %v", err)
	}
	if _, err := secretNames(filepath.Join(t.TempDir(), "missing.env"), false); err == nil {
		t.Error("a missing required file should be an error")
	}
}

func TestDoctorHelpDocumentsExitStatus(t *testing.T) {
	var out bytes.Buffer
	code := Main(context.Background(), []string{"doctor", "--help"}, IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out})
	if code != 0 || !strings.Contains(out.String(), "Exit status: 0 everything ok, 1 at least one warn, 2 at least one fail") {
		t.Errorf("doctor --help (exit %d):\n%s", code, out.String())
	}
}
