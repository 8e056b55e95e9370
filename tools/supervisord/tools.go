//go:build tools

// Package tools pins supervisord's version for `make supervisord`.
package tools

import _ "github.com/ochinchina/supervisord"
