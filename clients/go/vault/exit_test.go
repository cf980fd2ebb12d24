package vault

import (
	"fmt"
	"testing"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("%w: /run/x.sock: connect refused", ErrUnavailable), ExitUnavailable},
		{wire.Errorf(wire.CodeNotFound, "x"), ExitNotFound},
		{wire.Errorf(wire.CodeUnauthenticated, "x"), ExitDenied},
		{wire.Errorf(wire.CodePermissionDenied, "x"), ExitDenied},
		{wire.Errorf(wire.CodeInvalidPath, "x"), ExitUsage},
		{wire.Errorf(wire.CodeBadRequest, "x"), ExitUsage},
		{wire.Errorf(wire.CodeBusy, "x"), ExitTempFail},
		{wire.Errorf(wire.CodeBackendUnavailable, "x"), ExitTempFail},
		{fmt.Errorf("get: %w", wire.Errorf(wire.CodeAuditUnavailable, "x")), ExitTempFail},
		{wire.Errorf(wire.CodeNameTaken, "x"), ExitExists},
		{wire.Errorf(wire.CodeInternal, "x"), ExitError},
		{fmt.Errorf("something else"), ExitError},
	} {
		if got := ExitStatus(tc.err); got != tc.want {
			t.Errorf("ExitStatus(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
