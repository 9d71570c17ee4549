// Package vise holds the domain types of Vise — models, components, devices,
// deployments — and the one error type every layer uses, so that an HTTP
// handler and the CLI report the same failure the same way.
package vise

import (
	"context"
	"errors"
	"fmt"
	"github.com/vise-edge/vise/deviceapi"
)

// Code classifies an error for callers: it picks the HTTP status and the CLI
// exit code. It is the code of the API's error body, so its one type is in
// deviceapi.
type Code = deviceapi.Code

const (
	CodeInvalid      = deviceapi.CodeInvalid
	CodeNotFound     = deviceapi.CodeNotFound
	CodeConflict     = deviceapi.CodeConflict
	CodeTooLarge     = deviceapi.CodeTooLarge
	CodeUnauthorized = deviceapi.CodeUnauthorized
	CodeForbidden    = deviceapi.CodeForbidden
	CodeUnavailable  = deviceapi.CodeUnavailable
	CodeInternal     = deviceapi.CodeInternal
)

// Error is an error with a Code and a message meant for people: it says what
// was wrong and, where it can, what to do.
type Error struct {
	Code    Code
	Message string
	Err     error // the cause, for logs and errors.Is; not shown to API clients
}

func (e *Error) Error() string {
	if e.Err != nil && e.Message == "" {
		return e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf makes an *Error with the given code.
func Errorf(code Code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), Err: errors.Unwrap(err)}
}

// ErrorCode returns the Code of the first *Error in err's chain, CodeInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// NotNow reports whether err says "not now" rather than "no": coded
// unavailable (a database locked or away), or a context that ended before
// the answer came. The same request may succeed later.
func NotNow(err error) bool {
	return ErrorCode(err) == CodeUnavailable || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// ErrorMessage returns the people-facing message of err: the *Error's message
// if there is one, otherwise a generic text, so internal details (paths, SQL)
// are not sent to API clients.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != CodeInternal {
		return e.Error()
	}
	return "internal error; the server log has the details (search for the request id)"
}

// CodeFromHTTPStatus maps a status back to a Code, for clients that get an
// error body they cannot parse.
func CodeFromHTTPStatus(status int) Code { return deviceapi.CodeFromHTTPStatus(status) }

// ExitCode is the CLI's exit status for a code; documented in the README.
func ExitCode(c Code) int {
	switch c {
	case CodeInvalid:
		return 2
	case CodeNotFound:
		return 3
	case CodeConflict:
		return 4
	case CodeUnavailable:
		return 5
	case CodeUnauthorized, CodeForbidden:
		return 6
	case CodeTooLarge:
		return 7
	}
	return 1
}
