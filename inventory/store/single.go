package store

import (
	"context"
	"errors"
	"fmt"
)

// TxnFunc is a backend's Txn.
type TxnFunc func(ctx context.Context, ops []Op) ([]uint64, error)

// The single-key writes every backend offers, written once over its Txn:
// a backend's Create, Put and Delete are these with its own Txn.

// CreateVia is Store.Create over txn.
func CreateVia(ctx context.Context, txn TxnFunc, key string, value []byte) (uint64, error) {
	v, err := txn(ctx, []Op{{Kind: OpPut, Key: key, Value: value}})
	if err != nil {
		return 0, unwrapTxn(err)
	}
	return v[0], nil
}

// PutVia is Store.Put over txn.
func PutVia(ctx context.Context, txn TxnFunc, key string, value []byte, version uint64) (uint64, error) {
	if version == 0 {
		return 0, fmt.Errorf("put %q: version 0: use Create for new keys", key)
	}
	v, err := txn(ctx, []Op{{Kind: OpPut, Key: key, Value: value, Version: version}})
	if err != nil {
		return 0, unwrapTxn(err)
	}
	return v[0], nil
}

// DeleteVia is Store.Delete over txn.
func DeleteVia(ctx context.Context, txn TxnFunc, key string, version uint64) error {
	_, err := txn(ctx, []Op{{Kind: OpDelete, Key: key, Version: version}})
	return unwrapTxn(err)
}

// unwrapTxn turns a one-op TxnError into a plain error about its key
// (still matching ErrConflict or ErrExists).
func unwrapTxn(err error) error {
	var te *TxnError
	if errors.As(err, &te) {
		return fmt.Errorf("%s %q: %w", te.Op.Kind, te.Op.Key, te.Err)
	}
	return err
}
