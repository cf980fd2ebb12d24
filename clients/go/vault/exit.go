package vault

import (
	"errors"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// Exit statuses, after sysexits(3), that the daemon's errors map to. The
// command-line tools (vault-cli, vault-exec) exit with them.
const (
	ExitError       = 1  // anything else
	ExitUsage       = 64 // EX_USAGE: a bad request or path
	ExitNotFound    = 66 // EX_NOINPUT: no such entry or token
	ExitUnavailable = 69 // EX_UNAVAILABLE: the daemon could not be reached
	ExitExists      = 73 // EX_CANTCREAT: a live token already has the name
	ExitTempFail    = 75 // EX_TEMPFAIL: busy, store or audit log unavailable
	ExitDenied      = 77 // EX_NOPERM: unauthenticated or permission denied
)

// ExitStatus maps an error from the daemon or this client to an exit
// status; ExitError for anything it does not know.
func ExitStatus(err error) int {
	if errors.Is(err, ErrUnavailable) {
		return ExitUnavailable
	}
	switch wire.CodeOf(err) {
	case wire.CodeNotFound:
		return ExitNotFound
	case wire.CodeUnauthenticated, wire.CodePermissionDenied:
		return ExitDenied
	case wire.CodeInvalidPath, wire.CodeBadRequest:
		return ExitUsage
	case wire.CodeBusy, wire.CodeBackendUnavailable, wire.CodeAuditUnavailable:
		return ExitTempFail
	case wire.CodeNameTaken:
		// Not EX_USAGE or EX_DATAERR: the command and its input are fine,
		// but what it was asked to create cannot be, because something by
		// that name exists; a script can tell that apart and pick a name.
		return ExitExists
	}
	return ExitError
}
