package login_test

import (
	"testing"

	"github.com/clawfleet/clawfleet/cloud/login"
	"github.com/clawfleet/clawfleet/cloud/login/logintest"
)

func TestMemoryTokenStoreContract(t *testing.T) {
	logintest.TestTokenStore(t, func(*testing.T) login.TokenStore { return login.NewMemoryTokenStore() })
}
