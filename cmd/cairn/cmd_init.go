package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/network"
	"github.com/cairn-storage/cairn/storage"
)

func cmdInit(e *env) *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create identity, keyring and config in the home; prints a recovery secret once",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "recover", Usage: "restore identity and keys from a recovery secret ($CAIRN_RECOVERY or a prompt)"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("init takes no arguments")
			}
			home, err := homeDir(c)
			if err != nil {
				return err
			}
			if _, err := os.Stat(filepath.Join(home, keyringFile)); err == nil {
				return withHint(usagef("%s already holds a cairn identity", home),
					"use another --home, or remove that folder to start over (its keys are lost unless you kept the recovery secret)")
			}
			var kr *cryptree.Keyring
			recovering := c.Bool("recover")
			if recovering {
				secret := os.Getenv("CAIRN_RECOVERY")
				if secret == "" {
					secret, err = prompt(e, "Recovery secret: ", "set CAIRN_RECOVERY to the recovery secret")
					if err != nil {
						return err
					}
				}
				kr, err = cryptree.ParseRecoverySecret(secret)
				if err != nil {
					return withHint(storage.E("recover", storage.Invalid, err), "check the recovery secret for typos")
				}
			} else {
				kr, err = cryptree.NewKeyring()
				if err != nil {
					return err
				}
			}
			pass, err := passphrase(c, e, true)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(home, 0o700); err != nil {
				return storage.E("create home", storage.IO, err)
			}
			kf, err := kr.MarshalFile(pass, kdfParams())
			if err != nil {
				return err
			}
			ident, err := network.NewIdentity()
			if err != nil {
				return err
			}
			peerID, err := network.IdentityPeerID(ident)
			if err != nil {
				return err
			}
			if err := writeFileAtomic(filepath.Join(home, nodeKeyFile), ident, 0o600); err != nil {
				return err
			}
			if err := saveConfig(home, &config{Created: time.Now().Unix()}); err != nil {
				return err
			}
			// The keyring last: its presence marks a complete home.
			if err := writeFileAtomic(filepath.Join(home, keyringFile), kf, 0o600); err != nil {
				return err
			}
			out := map[string]string{"user_id": kr.UserID(), "peer_id": string(peerID)}
			if !recovering {
				out["recovery"] = kr.RecoverySecret()
			}
			if wantJSON(c) {
				return json.NewEncoder(e.stdout).Encode(out)
			}
			fmt.Fprintf(e.stdout, "Created a cairn home in %s\n", home)
			fmt.Fprintf(e.stdout, "user id: %s\npeer id: %s\n", out["user_id"], out["peer_id"])
			if !recovering {
				fmt.Fprintf(e.stdout, "\nRecovery secret (shown only now; write it down and keep it safe — with it anyone can read your drive, without it a lost machine means a lost drive):\n\n    %s\n\n", out["recovery"])
			}
			fmt.Fprintln(e.stdout, "Next: start the node with 'cairn daemon'.")
			return nil
		},
	}
}
