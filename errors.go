// Package vise holds the domain types of Vise — models, components, devices,
// deployments — and the one error type every layer uses, so that an HTTP
// handler and the CLI report the same failure the same way.
package vise

import (
	"errors"
	"fmt"
	"net/http"
)

// Code classifies an error for callers: it picks the HTTP status and the CLI
// exit code.
type Code string

const (
	CodeInvalid      Code = "invalid"      // the request or input is wrong; fix it and retry
	CodeNotFound     Code = "not_found"    // the named thing does not exist
	CodeConflict     Code = "conflict"     // clashes with what is stored (duplicate, immutable)
	CodeTooLarge     Code = "too_large"    // input over a configured limit
	CodeUnauthorized Code = "unauthorized" // missing or wrong credentials
	CodeForbidden    Code = "forbidden"    // credentials lack the role
	CodeUnavailable  Code = "unavailable"  // a dependency (database, blob store) is down or locked; retry later
	CodeInternal     Code = "internal"     // a bug or an unexpected failure
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

var httpStatus = map[Code]int{
	CodeInvalid:      http.StatusBadRequest,
	CodeNotFound:     http.StatusNotFound,
	CodeConflict:     http.StatusConflict,
	CodeTooLarge:     http.StatusRequestEntityTooLarge,
	CodeUnauthorized: http.StatusUnauthorized,
	CodeForbidden:    http.StatusForbidden,
	CodeUnavailable:  http.StatusServiceUnavailable,
	CodeInternal:     http.StatusInternalServerError,
}

// HTTPStatus is the status an API response with this code carries.
func (c Code) HTTPStatus() int {
	if s, ok := httpStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// CodeFromHTTPStatus maps a status back to a Code, for clients that get an
// error body they cannot parse.
func CodeFromHTTPStatus(status int) Code {
	for c, s := range httpStatus {
		if s == status {
			return c
		}
	}
	if status == http.StatusUnprocessableEntity {
		return CodeInvalid
	}
	return CodeInternal
}

// ExitCode is the CLI's exit status for this code; documented in the README.
func (c Code) ExitCode() int {
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
