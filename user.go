package vise

import "time"

// User is a person who logs in to the dashboard with a name and password.
// The password hash never leaves the store.
type User struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"` // "viewer", "labeller" or "admin", as for API tokens
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// PasswordChangedAt is when the password was last set; dashboard
	// sessions started before it end.
	PasswordChangedAt time.Time `json:"password_changed_at"`
}

// CreateUserRequest adds a user.
type CreateUserRequest struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password"`
}

// SetPasswordRequest replaces a user's password.
type SetPasswordRequest struct {
	Password string `json:"password"`
}

// User event types. Their data names who did it, never a password or hash.
const (
	EventUserCreated         = "user.created"
	EventUserRemoved         = "user.removed"
	EventUserPasswordChanged = "user.password_changed"
)
