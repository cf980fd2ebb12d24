// Package migrate is vault-migrate: it moves the secrets of systemd
// services out of .env files and into jawn-vault. cmd/vault-migrate calls
// Main.
//
// # What it does
//
// For each unit it reads the unit file and its drop-ins (Scope.Find), the
// EnvironmentFile= files (parsed with godotenv) and the Environment= lines
// (Scope.Collect), and tells secrets from plain settings (Classifier). The
// plan (MakePlan) gives every secret a vault path, imports a value several
// units share once, and renders a drop-in, <unit>.d/jawn-vault.conf, that
// resets EnvironmentFile= and Environment=, sets the plain variables again,
// hands the unit a token of its own with LoadCredential=, and wraps
// ExecStart= with vault-exec. Applier.Apply imports and reads back every
// value, issues the read-only token (bound to the unit's User=), writes the
// token file, the drop-in and a manifest with a backup of the unit file, and
// reloads systemd. Applier.Undo reverses all of it; RemoveEnvFiles removes
// the plaintext files once nothing else reads them.
//
// Every path in a Unit, Plan or Manifest is a target path, as systemd on
// the machine sees it; Scope.Host maps it under --root, so that dry runs and
// tests never touch the host.
//
// # What it deliberately does not do
//
// It never edits a unit file (only --undo writes one, and only to put the
// original bytes back), never overwrites a value already in the vault, never
// prints a value, and never deletes a value from the vault: --undo leaves
// the imported entries where they are. It does not change programs: code
// that opens a .env file itself is reported (a bounded scan of the working
// directory and scripts), not rewritten. It does not migrate template units
// or resolve specifiers other than %%. It reloads systemd through systemctl,
// not D-Bus.
package migrate
