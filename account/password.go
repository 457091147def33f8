package account

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"golang.org/x/crypto/argon2"
)

// argon2id parameters: OWASP's minimum recommendation (19 MiB, two passes,
// one lane), so a burst of logins cannot exhaust a small machine's memory.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// maxPasswordBytes bounds what is hashed, so a huge form field costs no
// more than a normal one.
const maxPasswordBytes = 1024

// HashPassword returns the argon2id hash of password in PHC string form.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read random salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime,
		argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches a hash made by
// HashPassword (with any parameters).
func CheckPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	var mem, iter uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iter, &threads); err != nil ||
		mem == 0 || mem > 1<<20 || iter == 0 || iter > 16 || threads == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, iter, mem, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when a login names no account, so an
// unknown name takes as long as a wrong password. It is made on first use,
// so programs that never check a password do not pay for it.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("labhub-no-such-account")
	return h
})

// PasswordError says why a new password was refused, in words for the
// person choosing it.
type PasswordError struct{ Reason string }

func (e *PasswordError) Error() string { return e.Reason }

// Password policy failures.
var (
	errPasswordMismatch = &PasswordError{"The two passwords do not match."}
	errPasswordTooLong  = &PasswordError{"The password is too long (at most 1024 bytes)."}
)

// PasswordPolicy decides which new passwords are acceptable.
type PasswordPolicy struct {
	// MinLength is the least number of characters; zero means 10.
	MinLength int
	// MinScore is the least zxcvbn score (0 to 4) a password must reach;
	// zero accepts any score but still refuses passwords found whole in
	// zxcvbn's list of common passwords.
	MinScore int
}

// Check returns a *PasswordError when password may not be used. inputs are
// words the person is known by (username, email), which make a password
// easier to guess.
func (p PasswordPolicy) Check(password string, inputs ...string) error {
	min := p.MinLength
	if min <= 0 {
		min = 10
	}
	if len(password) > maxPasswordBytes {
		return errPasswordTooLong
	}
	if utf8.RuneCountInString(password) < min {
		return &PasswordError{fmt.Sprintf("The password is too short: use at least %d characters.", min)}
	}
	if strings.TrimSpace(password) == "" {
		return &PasswordError{"The password must not be only spaces."}
	}
	if containsPersonal(password, inputs) {
		return &PasswordError{"The password must not contain your username or email address."}
	}
	res := zxcvbn.PasswordStrength(password, inputs)
	if common(password, res) {
		return &PasswordError{"This password is on the list of common passwords that attackers try first. Choose another."}
	}
	if res.Score < p.MinScore {
		return &PasswordError{"This password is too easy to guess. Use a longer one, for example a few unrelated words."}
	}
	return nil
}

// common reports whether zxcvbn matched the whole password (ignoring case,
// l33t substitutions or reversal) against its list of common passwords.
func common(password string, res zxcvbn.Result) bool {
	if len(res.Sequence) != 1 {
		return false
	}
	m := res.Sequence[0]
	return m.Pattern == "dictionary" && m.I == 0 && m.J == utf8.RuneCountInString(password)-1 &&
		(m.DictionaryName == "passwords" || m.DictionaryName == "user_inputs")
}

// minPersonal is the shortest username or email part a password may not
// contain; shorter ones occur in too many good passwords by chance.
const minPersonal = 4

// containsPersonal reports whether password contains, ignoring case, one of
// the words a person is known by: a username, an email address or its part
// before the @.
func containsPersonal(password string, inputs []string) bool {
	pw := strings.ToLower(password)
	for _, in := range inputs {
		in = strings.ToLower(strings.TrimSpace(in))
		words := []string{in}
		if local, _, ok := strings.Cut(in, "@"); ok {
			words = append(words, local)
		}
		for _, w := range words {
			if utf8.RuneCountInString(w) >= minPersonal && strings.Contains(pw, w) {
				return true
			}
		}
	}
	return false
}

// checkNew applies the policy and the confirmation to a new password.
func (p PasswordPolicy) checkNew(password, confirm string, inputs ...string) error {
	if password != confirm {
		return errPasswordMismatch
	}
	return p.Check(password, inputs...)
}

// IsPasswordError reports whether err is a policy refusal.
func IsPasswordError(err error) bool {
	var pe *PasswordError
	return errors.As(err, &pe)
}
