package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/home"
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
			dir, err := homeDir(c)
			if err != nil {
				return err
			}
			taken := func() error {
				return withHint(usagef("%s already holds a cairn identity", dir),
					"use another --home, or remove that folder to start over (its keys are lost unless you kept the recovery secret)")
			}
			if home.Exists(dir) {
				return taken()
			}
			pass := func() ([]byte, error) { return passphrase(c, e, true) }
			var h *home.Home
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
				h, kr, err = home.Recover(dir, secret, pass, kdfParams())
				if storage.KindOf(err) == storage.Invalid {
					return withHint(err, "check the recovery secret for typos")
				}
			} else {
				h, kr, err = home.Init(dir, pass, kdfParams())
			}
			if storage.KindOf(err) == storage.Exist {
				return taken()
			}
			if err != nil {
				return err
			}
			_, peerID, err := h.Identity()
			if err != nil {
				return err
			}
			out := map[string]string{"user_id": kr.UserID(), "peer_id": string(peerID)}
			if !recovering {
				out["recovery"] = kr.RecoverySecret()
			}
			if wantJSON(c) {
				return json.NewEncoder(e.stdout).Encode(out)
			}
			fmt.Fprintf(e.stdout, "Created a cairn home in %s\n", dir)
			fmt.Fprintf(e.stdout, "user id: %s\npeer id: %s\n", out["user_id"], out["peer_id"])
			if !recovering {
				fmt.Fprintf(e.stdout, "\nRecovery secret (shown only now; write it down and keep it safe — with it anyone can read your drive, without it a lost machine means a lost drive):\n\n    %s\n\n", out["recovery"])
			}
			fmt.Fprintln(e.stdout, "Next: start the node with 'cairn daemon'.")
			return nil
		},
	}
}
