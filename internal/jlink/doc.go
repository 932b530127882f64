// Package jlink makes the small Java runtime an app needs: it finds a JDK
// (a directory with bin/jlink and jmods, such as the one Debian's
// openjdk-*-jdk-headless package holds), asks jdeps which modules an app
// uses, and links a runtime image of only those modules with jlink, with
// a class-data-sharing archive for a faster start. Both results are cached
// by their inputs, so that a rebuild runs neither tool.
//
// jdeps and jlink are the JDK's own programs, run on the build host: they
// run where the JDK was built for (an x86_64 Linux host for Debian's).
package jlink
