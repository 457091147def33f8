// Package deps pins the modules the packages are built on while they are written.
package deps

import (
	_ "github.com/chromedp/chromedp"
	_ "github.com/docker/docker/client"
	_ "github.com/gin-gonic/gin"
	_ "github.com/go-ldap/ldap/v3"
	_ "github.com/gorilla/websocket"
	_ "github.com/lestrrat-go/jwx/v2/jwt"
	_ "github.com/pquerna/otp/totp"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "github.com/stretchr/testify/require"
	_ "golang.org/x/crypto/bcrypt"
	_ "golang.org/x/text/unicode/norm"
	_ "gorm.io/driver/postgres"
	_ "gorm.io/driver/sqlite"
	_ "gorm.io/gorm"
)
