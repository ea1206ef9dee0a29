package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Role is a Drove user role, named as in Drove's configuration.
type Role string

// Drove's roles.
const (
	RoleRoot        Role = "EXTERNAL_ROOT"
	RoleReadWrite   Role = "EXTERNAL_READ_WRITE"
	RoleMaintenance Role = "DROVE_EXTERNAL_MAINTENANCE"
	RoleReadOnly    Role = "EXTERNAL_READ_ONLY"
	// RoleClusterNode is node-to-node traffic authenticated by the cluster secret.
	RoleClusterNode Role = "CLUSTER_NODE"
)

// Headers used for node-to-node authentication (Drove's names).
const (
	headerClusterAuth = "Cluster-Authorization"
	headerNodeID      = "NodeId"
)

// User is one configured API user. Password is plain text or a bcrypt hash ($2a$/$2b$/$2y$).
type User struct {
	Name     string
	Password string
	Role     Role
}

// ParseUser parses "name:password:ROLE"; the password may itself contain ':'.
func ParseUser(s string) (User, error) {
	first, last := strings.Index(s, ":"), strings.LastIndex(s, ":")
	if first <= 0 || last == first {
		return User{}, fmt.Errorf("user %q: expected name:password:ROLE", s)
	}
	u := User{Name: s[:first], Password: s[first+1 : last], Role: Role(strings.ToUpper(s[last+1:]))}
	switch u.Role {
	case RoleRoot, RoleReadWrite, RoleMaintenance, RoleReadOnly:
	default:
		return User{}, fmt.Errorf("user %q: role must be one of %s, %s, %s, %s; got %q",
			u.Name, RoleRoot, RoleReadWrite, RoleMaintenance, RoleReadOnly, u.Role)
	}
	if u.Password == "" {
		return User{}, fmt.Errorf("user %q: password must not be empty", u.Name)
	}
	return u, nil
}

// principal is an authenticated caller.
type principal struct {
	name string
	role Role
}

// authenticator checks Basic credentials and the cluster secret. Safe for
// concurrent use.
type authenticator struct {
	users    map[string]User
	secret   string
	disabled bool
	// verified caches successful bcrypt checks (bcrypt costs tens of ms),
	// keyed by a hash of name and password, like Drove's credential cache.
	verified sync.Map
}

func newAuthenticator(users []User, secret string, disabled bool) *authenticator {
	a := &authenticator{users: map[string]User{}, secret: secret, disabled: disabled}
	for _, u := range users {
		a.users[u.Name] = u
	}
	return a
}

// authenticate returns the caller, trying the cluster secret first, then Basic auth.
func (a *authenticator) authenticate(r *http.Request) (principal, error) {
	if a.disabled {
		return principal{name: "default-user", role: RoleRoot}, nil
	}
	if s := r.Header.Get(headerClusterAuth); s != "" && a.secret != "" {
		if subtle.ConstantTimeCompare([]byte(s), []byte(a.secret)) == 1 {
			return principal{name: "NODE-" + r.Header.Get(headerNodeID), role: RoleClusterNode}, nil
		}
		return principal{}, errUnauthorized
	}
	name, pass, ok := r.BasicAuth()
	if !ok {
		return principal{}, errUnauthorized
	}
	u, found := a.users[name]
	if !found || !a.passwordMatches(u, pass) {
		return principal{}, errUnauthorized
	}
	return principal{name: u.Name, role: u.Role}, nil
}

func (a *authenticator) passwordMatches(u User, pass string) bool {
	if !isBcrypt(u.Password) {
		return subtle.ConstantTimeCompare([]byte(u.Password), []byte(pass)) == 1
	}
	key := sha256.Sum256([]byte(u.Name + "\x00" + pass))
	if _, ok := a.verified.Load(key); ok {
		return true
	}
	if bcrypt.CompareHashAndPassword([]byte(u.Password), []byte(pass)) != nil {
		return false
	}
	a.verified.Store(key, struct{}{})
	return true
}

func isBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

// Role sets for routes; a route without roles admits any authenticated caller.
var (
	maintenanceRole = []Role{RoleMaintenance}
	nodeOrMaintRole = []Role{RoleMaintenance, RoleClusterNode}
	nodeRole        = []Role{RoleClusterNode}
	rwRole          = []Role{RoleReadWrite}
)

// allowed reports whether p may call a route restricted to roles. Root may call anything.
func (p principal) allowed(roles []Role) bool {
	if roles == nil || p.role == RoleRoot {
		return true
	}
	for _, r := range roles {
		if p.role == r {
			return true
		}
	}
	return false
}
