package contracttest

import (
	"errors"

	"github.com/finconnectd/finconnectd/internal/providers"
)

func asError(err error, target **providers.Error) bool { return errors.As(err, target) }
