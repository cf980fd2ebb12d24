package wire

import (
	"errors"
	"fmt"
)

// Code is a stable, snake_case error code. Codes are part of the protocol:
// clients branch on them, so one is never renamed or reused.
type Code string

// The error codes of protocol v1.
const (
	CodeBadRequest         Code = "bad_request"         // not a valid request: JSON, types, fields, sizes
	CodeLineTooLong        Code = "line_too_long"       // the line passed the limit; the connection is closed
	CodeUnknownMethod      Code = "unknown_method"      // no such method
	CodeUnauthenticated    Code = "unauthenticated"     // no token, or a token that is unknown, expired, revoked or bound to another uid
	CodePermissionDenied   Code = "permission_denied"   // the token's grants do not allow this
	CodeInvalidPath        Code = "invalid_path"        // the path breaks the path rules
	CodeNotFound           Code = "not_found"           // no such entry, token or rotation
	CodeBackendUnavailable Code = "backend_unavailable" // the store cannot be read or written now (gpg, disk)
	CodeAuditUnavailable   Code = "audit_unavailable"   // the audit log cannot be written, so no secret is served
	CodeBusy               Code = "busy"                // the connection limit is reached; try again later
	CodeInternal           Code = "internal"            // a bug; the daemon log has details
	CodeInDoubt            Code = "in_doubt"            // a rotation died after its provider answered; a person must check
	CodeNameTaken          Code = "name_taken"          // token.create: a live token already has this name; revoke it or pick another
)

// Codes lists every code, for documentation and tests.
var Codes = []Code{
	CodeBadRequest, CodeLineTooLong, CodeUnknownMethod, CodeUnauthenticated,
	CodePermissionDenied, CodeInvalidPath, CodeNotFound, CodeBackendUnavailable,
	CodeAuditUnavailable, CodeBusy, CodeInternal, CodeInDoubt, CodeNameTaken,
}

// Error is the protocol's error: a code and a human message. The message
// never contains request bytes, values or tokens.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// Error implements error.
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Is makes errors.Is(err, &Error{Code: c}) match on the code alone.
func (e *Error) Is(target error) bool {
	var t *Error
	if errors.As(target, &t) {
		return t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
	}
	return false
}

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of the first *Error in err's chain, or
// CodeInternal for anything else (and "" for nil).
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
