#!/bin/sh
# Installs bytefreezer from an unpacked `cargo xtask dist` tarball on a host without dpkg:
#   sudo ./install.sh            from the tarball's folder
#   ./install.sh --root DIR      into DIR instead of / (to look before installing)
# The binary goes to /usr/local/bin (where the units expect it), the role configurations to
# /etc/bytefreezer (an existing file is never overwritten; the new one is put beside it as
# FILE.new), the units to /etc/systemd/system (not enabled), completions and man pages where
# the shells and man look. It creates the `bytefreezer` system user and /var/lib/bytefreezer.
set -eu

root=""
if [ "${1:-}" = "--root" ]; then
    root="${2:?--root needs a folder}"
fi
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -x "$here/bin/bytefreezer" ]; then
    echo "install.sh: run it from the unpacked tarball (bin/bytefreezer is missing)" >&2
    exit 1
fi

install -d "$root/usr/local/bin" "$root/etc/bytefreezer" "$root/etc/systemd/system"
install -m 0755 "$here/bin/bytefreezer" "$root/usr/local/bin/bytefreezer"

if ! grep -q '^bytefreezer:' "$root/etc/passwd" 2>/dev/null; then
    if [ -n "$root" ]; then
        useradd --prefix "$root" --system --user-group --no-create-home \
            --home-dir /var/lib/bytefreezer --shell /usr/sbin/nologin bytefreezer
    else
        useradd --system --user-group --no-create-home \
            --home-dir /var/lib/bytefreezer --shell /usr/sbin/nologin bytefreezer
    fi
fi
uid=$(awk -F: '$1 == "bytefreezer" { print $3 }' "$root/etc/passwd")
gid=$(awk -F: '$1 == "bytefreezer" { print $3 }' "$root/etc/group")

for config in "$here"/config/*.toml; do
    name=$(basename "$config")
    target="$root/etc/bytefreezer/$name"
    if [ -e "$target" ]; then
        # An edited configuration stays; the shipped one is beside it to compare.
        target="$target.new"
    fi
    install -m 0640 "$config" "$target"
    chgrp "$gid" "$target"
done
chgrp "$gid" "$root/etc/bytefreezer"
chmod 0750 "$root/etc/bytefreezer"

for unit in "$here"/systemd/*.service; do
    install -m 0644 "$unit" "$root/etc/systemd/system/$(basename "$unit")"
done

install -d -m 0750 "$root/var/lib/bytefreezer"
chown "$uid:$gid" "$root/var/lib/bytefreezer"

if [ -d "$here/completions" ]; then
    install -D -m 0644 "$here/completions/bytefreezer.bash" \
        "$root/usr/local/share/bash-completion/completions/bytefreezer"
    install -D -m 0644 "$here/completions/_bytefreezer" \
        "$root/usr/local/share/zsh/site-functions/_bytefreezer"
    install -D -m 0644 "$here/completions/bytefreezer.fish" \
        "$root/usr/local/share/fish/vendor_completions.d/bytefreezer.fish"
fi
if [ -d "$here/man" ]; then
    install -d "$root/usr/local/share/man/man1"
    install -m 0644 "$here"/man/*.1 "$root/usr/local/share/man/man1/"
fi

if [ -z "$root" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi
echo "bytefreezer installed${root:+ under $root}. Next: edit /etc/bytefreezer/ROLE.toml,"
echo "  bytefreezer doctor --config /etc/bytefreezer/ROLE.toml"
echo "  systemctl enable --now bytefreezer-ROLE"
