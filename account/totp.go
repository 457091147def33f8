package account

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"gorm.io/gorm"

	"github.com/labhub/labhub/store"
)

// TOTP parameters: RFC 6238 defaults, which every authenticator app reads.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	// totpSkew accepts the step before and after now, for clock drift.
	totpSkew = 1
	// recoveryCodes is how many one-time recovery codes an account gets.
	recoveryCodes = 10
)

func totpLabel(accountID uint) string {
	return "totp-secret:" + strconv.FormatUint(uint64(accountID), 10)
}

// Enrollment is a TOTP secret offered to a user, not yet turned on.
type Enrollment struct {
	// Secret is the base32 secret for typing into an app.
	Secret string
	// URL is the otpauth:// URL the QR code holds.
	URL string
	// QR is the QR code as a PNG data URL for an <img> element.
	QR string
}

// BeginTOTP creates a new secret for the account and keeps it pending until
// ConfirmTOTP sees a code made from it. Calling it again replaces the
// pending secret.
func (s *Service) BeginTOTP(ctx context.Context, a *store.NativeAccount) (*Enrollment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.opts.Issuer, AccountName: a.Username,
		Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, fmt.Errorf("generate totp secret: %w", err)
	}
	sealed, err := s.keys.Seal(totpLabel(a.ID), []byte(key.Secret()))
	if err != nil {
		return nil, err
	}
	if err := s.db.WithContext(ctx).Model(&store.NativeAccount{}).Where("id = ?", a.ID).
		Update("totp_pending", sealed).Error; err != nil {
		return nil, fmt.Errorf("store pending totp secret: %w", err)
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return nil, fmt.Errorf("draw qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode qr code: %w", err)
	}
	return &Enrollment{Secret: key.Secret(), URL: key.URL(),
		QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())}, nil
}

// ConfirmTOTP turns TOTP on when code was made from the pending secret, and
// returns the recovery codes, which are shown once and stored only hashed.
func (s *Service) ConfirmTOTP(ctx context.Context, a *store.NativeAccount, code string) ([]string, error) {
	if a.TOTPPending == nil {
		return nil, &FormError{Message: "Start the set-up again: no code is waiting to be confirmed."}
	}
	secret, err := s.keys.Open(totpLabel(a.ID), a.TOTPPending)
	if err != nil {
		return nil, err
	}
	step, ok := matchTOTP(string(secret), code, s.opts.Now(), 0)
	if !ok {
		return nil, &FormError{Field: "code", Message: "That code is not right. Check the time on your phone and enter the code the app shows now."}
	}
	codes, hashes := s.newRecoveryCodes()
	enc, _ := json.Marshal(hashes)
	err = s.db.WithContext(ctx).Model(&store.NativeAccount{}).Where("id = ?", a.ID).Updates(map[string]any{
		"totp_sealed": a.TOTPPending, "totp_pending": nil, "totp_last_step": step, "recovery_codes": string(enc),
	}).Error
	if err != nil {
		return nil, fmt.Errorf("turn on totp: %w", err)
	}
	s.log.Info("turned on totp", "user", a.Username)
	return codes, nil
}

// DisableTOTP turns TOTP off after checking the account's password.
func (s *Service) DisableTOTP(ctx context.Context, a *store.NativeAccount, password string) error {
	if !CheckPassword(a.PasswordHash, password) {
		return &FormError{Field: "password", Message: "The password is not right."}
	}
	err := s.db.WithContext(ctx).Model(&store.NativeAccount{}).Where("id = ?", a.ID).Updates(map[string]any{
		"totp_sealed": nil, "totp_pending": nil, "totp_last_step": 0, "recovery_codes": "",
	}).Error
	if err != nil {
		return fmt.Errorf("turn off totp: %w", err)
	}
	s.log.Info("turned off totp", "user", a.Username)
	return nil
}

// VerifySecondFactor completes a login that needs TOTP: code is the app's
// current code or one of the recovery codes, each usable once.
func (s *Service) VerifySecondFactor(ctx context.Context, l *Login, code, addr string) error {
	const method = store.ProviderNative
	name := l.Account.Username
	if err := s.precheck(ctx, method, name, addr); err != nil {
		return err
	}
	var ok bool
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var a store.NativeAccount
		if err := tx.First(&a, l.Account.ID).Error; err != nil {
			return fmt.Errorf("load account: %w", err)
		}
		if a.TOTPSealed == nil {
			return ErrBadCredentials
		}
		secret, err := s.keys.Open(totpLabel(a.ID), a.TOTPSealed)
		if err != nil {
			return err
		}
		if step, match := matchTOTP(string(secret), code, s.opts.Now(), a.TOTPLastStep); match {
			// Only a later step than the last one used counts, so a code
			// seen over someone's shoulder cannot be used again.
			res := tx.Model(&store.NativeAccount{}).Where("id = ? AND totp_last_step < ?", a.ID, step).
				Update("totp_last_step", step)
			if res.Error != nil {
				return fmt.Errorf("record totp step: %w", res.Error)
			}
			ok = res.RowsAffected == 1
			return nil
		}
		left, used := s.useRecoveryCode(a.RecoveryCodes, code)
		if !used {
			return nil
		}
		res := tx.Model(&store.NativeAccount{}).Where("id = ? AND recovery_codes = ?", a.ID, a.RecoveryCodes).
			Update("recovery_codes", left)
		if res.Error != nil {
			return fmt.Errorf("use recovery code: %w", res.Error)
		}
		ok = res.RowsAffected == 1
		if ok {
			s.log.Warn("used recovery code", "user", name, "remote_addr", addr)
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrBadCredentials) {
		return err
	}
	if !ok {
		return s.fail(ctx, method, name, addr, "wrong second factor", ErrBadCredentials)
	}
	return s.succeed(ctx, l, name, addr)
}

// RecoveryCodesLeft returns how many unused recovery codes an account has.
func RecoveryCodesLeft(a *store.NativeAccount) int {
	var hs []string
	_ = json.Unmarshal([]byte(a.RecoveryCodes), &hs)
	return len(hs)
}

// matchTOTP returns the time step code belongs to when it is valid at now
// (within the skew) and later than after.
func matchTOTP(secret, code string, now time.Time, after int64) (int64, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != totpDigits.Length() {
		return 0, false
	}
	opts := totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1}
	cur := now.Unix() / totpPeriod
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		step := cur + d
		if step <= after {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), opts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

// newRecoveryCodes returns fresh codes ("xxxxx-xxxxx", 50 random bits each)
// and their keyed hashes.
func (s *Service) newRecoveryCodes() (codes, hashes []string) {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	for range recoveryCodes {
		b := make([]byte, 7)
		_, _ = rand.Read(b)
		c := strings.ToLower(enc.EncodeToString(b))[:10]
		c = c[:5] + "-" + c[5:]
		codes = append(codes, c)
		hashes = append(hashes, s.codeHash(c))
	}
	return codes, hashes
}

func (s *Service) codeHash(code string) string {
	code = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(code), " ", ""))
	if len(code) == 10 && !strings.Contains(code, "-") {
		code = code[:5] + "-" + code[5:]
	}
	m := hmac.New(sha256.New, s.codeKey)
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil))
}

// useRecoveryCode returns the stored list without code, and whether code
// was in it.
func (s *Service) useRecoveryCode(stored, code string) (string, bool) {
	var hs []string
	if json.Unmarshal([]byte(stored), &hs) != nil || strings.TrimSpace(code) == "" {
		return stored, false
	}
	h := s.codeHash(code)
	for i, x := range hs {
		if subtle.ConstantTimeCompare([]byte(x), []byte(h)) == 1 {
			left, _ := json.Marshal(append(hs[:i:i], hs[i+1:]...))
			return string(left), true
		}
	}
	return stored, false
}
