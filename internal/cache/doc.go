// Package cache owns the layout of bootapp's cache directory: where it is
// (DefaultDir), what lives below it (the Debs, Downloads, Encoded,
// Initramfs, Loaders and Runtimes folders), how the newest cached package is picked (Newest), and
// how a derived file is stored so that readers never see half of it
// (WriteFile).
//
// The builder reads from the cache, builder/fetch fills its Debs folder with
// `apt-get download`, and the tests take their real inputs from it the way a
// user's build does.
package cache
