package deviceapi

import "net/http"

// Code classifies an API error (ErrorBody.Error.Code): what went wrong and
// what HTTP status says so.
type Code string

// The codes; each comment says what a caller does about it.
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

// ErrorBody is the JSON of every error response of the API, the device
// API included.
type ErrorBody struct {
	Error struct {
		Code      Code   `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id,omitempty"`
	} `json:"error"`
}
