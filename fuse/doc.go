// Package fuse will mount the drive through bazil.org/fuse: a thin adaptor
// over the drive client with one errno table. Not built yet.
package fuse
