#!/usr/bin/env bash
# mailstack.sh — a throwaway, loopback-only Dovecot (IMAP/LMTP) + Postfix
# (SMTP/submission) stack under a temp dir, for integration tests, the demo
# and benchmarks. Runs as root, without systemd.
#
#   mailstack.sh install                      install missing Debian packages
#   mailstack.sh start   DIR                  configure + start, write DIR/env
#   mailstack.sh adduser DIR ADDRESS PASSWORD add a mailbox (idempotent)
#   mailstack.sh stop    DIR                  stop both servers
#   mailstack.sh status  DIR                  exit 0 iff both servers are up
#
# DIR/env holds KEY=value lines (no quotes, no export): MAILSTACK_DIR,
# IMAPS_PORT, IMAP_PORT, SUBMISSION_PORT, SMTPS_PORT, SMTP_PORT, LMTP_PORT,
# CA_FILE, DOMAINS, PASSWD_FILE, plus a few extras (see write_env).
#
# Processes per stack: dovecot master (+children), postfix master (+children)
# and imap-forward.pl (IMAP_PORT; see "IMAP forwarder" below for why).
#
# Nothing ever leaves the machine: everything listens on 127.0.0.1, Postfix
# delivers the local domains to Dovecot over LMTP and bounces everything else
# locally (default_transport = error). `start` modifies nothing outside DIR,
# except that every parent directory of DIR gets o+x (so dovecot/dovenull/mail
# can traverse it) when it lacks it; /etc/postfix and /etc/dovecot are never
# touched (root may use `postfix -c` without alternate_config_directories).
# `install` runs apt-get only when something is missing.

set -euo pipefail
umask 022

readonly DOMAINS="hexon.test researcher.test example.org"
readonly MAIL_UID=8 MAIL_GID=8 # Debian's `mail` user/group
readonly START_DEADLINE=15      # seconds to wait for all ports
readonly PKGS=(dovecot-imapd dovecot-lmtpd postfix swaks openssl gnupg
	libclang-dev nettle-dev pkg-config ca-certificates curl)
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"

die() {
	printf 'mailstack: error: %s\n' "$*" >&2
	exit 1
}
log() { printf 'mailstack: %s\n' "$*" >&2; }

usage() {
	cat >&2 <<'EOF'
usage: mailstack.sh install
       mailstack.sh start   DIR
       mailstack.sh adduser DIR ADDRESS PASSWORD
       mailstack.sh stop    DIR
       mailstack.sh status  DIR
EOF
	exit 2
}

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (Dovecot and Postfix need it)"; }

# Absolute, normalised DIR; refuse characters that break the config syntaxes.
abs_dir() {
	local d=$1
	[[ -n $d ]] || die "DIR must not be empty"
	[[ $d == /* ]] || d="$PWD/$d"
	d=$(realpath -m -- "$d")
	[[ $d != / ]] || die "DIR must not be /"
	[[ $d =~ ^[A-Za-z0-9/._+@-]+$ ]] ||
		die "DIR '$d' contains characters unsafe for the generated configs (allowed: A-Z a-z 0-9 / . _ + @ -)"
	printf '%s\n' "$d"
}

# Print the last lines of the given log files to stderr.
show_logs() {
	local f
	for f in "$@"; do
		[[ -s $f ]] || continue
		printf -- '----- tail of %s -----\n' "$f" >&2
		tail -n 25 -- "$f" >&2 || true
	done
}

# Run a command with stdin from /dev/null, stdout+stderr appended to LOG and
# every other inherited descriptor closed: a daemon that inherits a caller's
# pipe (the Rust harness reads our output through one) keeps it open and hangs
# the reader; it would also inherit our lock files.
run_clean() {
	local log=$1
	shift
	(
		fds=()
		for fd in "/proc/$BASHPID/fd/"*; do
			fd=${fd##*/}
			[[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)) && fds+=("$fd")
		done
		for fd in "${fds[@]}"; do
			eval "exec $fd>&-" 2>/dev/null || true
		done
		exec "$@" </dev/null >>"$log" 2>&1
	)
}

# ---------------------------------------------------------------- install --

cmd_install() {
	need_root
	local missing=()
	command -v dovecot >/dev/null 2>&1 || missing+=(dovecot)
	command -v doveadm >/dev/null 2>&1 || missing+=(doveadm)
	command -v postfix >/dev/null 2>&1 || missing+=(postfix)
	command -v swaks >/dev/null 2>&1 || missing+=(swaks)
	command -v openssl >/dev/null 2>&1 || missing+=(openssl)
	command -v gpg >/dev/null 2>&1 || missing+=(gpg)
	command -v curl >/dev/null 2>&1 || missing+=(curl) # tests/metrics.rs scrapes with it
	[[ -e /usr/lib/llvm-14/lib/libclang.so ]] || missing+=(libclang)
	[[ -e /usr/lib/dovecot/lmtp ]] || missing+=(dovecot-lmtpd)
	{ command -v pkg-config >/dev/null 2>&1 && pkg-config --exists nettle; } || missing+=(nettle)

	if ((${#missing[@]})); then
		log "missing: ${missing[*]}; installing ${PKGS[*]}"
		command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install manually: ${PKGS[*]}"
		export DEBIAN_FRONTEND=noninteractive
		if command -v debconf-set-selections >/dev/null 2>&1; then
			echo 'postfix postfix/main_mailer_type select No configuration' |
				debconf-set-selections || die "debconf-set-selections failed"
		fi
		# Keep the packages' own system daemons (dovecot on *:143/993 etc.)
		# from being started by the postinst scripts, unless the machine
		# already has a policy; the temporary policy-rc.d is removed after.
		local policy=/usr/sbin/policy-rc.d own_policy=""
		if [[ ! -e $policy ]]; then
			printf '#!/bin/sh\n# temporary, mailstack.sh install\nexit 101\n' >"$policy"
			chmod 0755 "$policy"
			own_policy=1
			trap 'rm -f /usr/sbin/policy-rc.d' EXIT
		fi
		local aptlog
		aptlog=$(mktemp /tmp/mailstack-apt.XXXXXX.log)
		if ! run_clean "$aptlog" apt-get update; then
			show_logs "$aptlog"
			die "apt-get update failed (log: $aptlog)"
		fi
		if ! run_clean "$aptlog" apt-get install -y --no-upgrade "${PKGS[@]}"; then
			show_logs "$aptlog"
			die "apt-get install -y --no-upgrade ${PKGS[*]} failed (log: $aptlog)"
		fi
		if [[ -n $own_policy ]]; then
			rm -f "$policy"
			trap - EXIT
		fi
		log "installed ${PKGS[*]} (log: $aptlog)"
	fi

	local u
	for u in dovecot dovenull postfix mail; do
		id -u "$u" >/dev/null 2>&1 || die "system user '$u' is missing after install"
	done
	getent group postdrop >/dev/null 2>&1 || die "group 'postdrop' is missing after install"
	local t
	for t in dovecot doveadm postfix postconf swaks openssl gpg curl; do
		command -v "$t" >/dev/null 2>&1 || die "'$t' still missing after install"
	done
	log "install: all dependencies present"
}

# ------------------------------------------------------------------ ports --

# Print N distinct free TCP ports on 127.0.0.1, chosen at random in
# 20000-32767 (below Linux's ephemeral range, so outgoing connections cannot
# grab them between now and the servers binding them).
pick_ports() {
	local n=$1
	if command -v python3 >/dev/null 2>&1; then
		python3 - "$n" <<'EOF'
import random, socket, sys
n = int(sys.argv[1]); held = []; ports = []
tries = 0
while len(ports) < n:
    tries += 1
    if tries > 2000:
        sys.exit("no free ports found")
    p = random.randint(20000, 32767)
    if p in ports:
        continue
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        s.close()
        continue
    held.append(s); ports.append(p)
print(" ".join(map(str, ports)))
EOF
		return
	fi
	# Fallback without python: nothing listening + not in `ss` output.
	local ports=() p tries=0 used=""
	used=$(ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://' || true)
	while ((${#ports[@]} < n)); do
		((++tries < 2000)) || die "no free ports found"
		p=$((20000 + RANDOM % 12768))
		[[ " ${ports[*]} " == *" $p "* ]] && continue
		grep -qx "$p" <<<"$used" && continue
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
		ports+=("$p")
	done
	echo "${ports[*]}"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# -------------------------------------------------------------------- TLS --

gen_tls() {
	local dir=$1 tls="$1/tls"
	mkdir -p "$tls"
	chmod 0755 "$tls"
	local ossl=(openssl)
	(
		set -e
		cd "$tls"
		rm -f ./*.pem ./*.key ./*.csr ./*.srl ./*.ext
		"${ossl[@]}" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout ca.key -out ca.pem -days 30 -subj "/CN=mailstack throwaway CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
		mkcert() { # name cn san
			"${ossl[@]}" req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
				-keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
			printf '%s\n' "basicConstraints=CA:FALSE" \
				"keyUsage=critical,digitalSignature,keyEncipherment" \
				"extendedKeyUsage=serverAuth" "subjectAltName=$3" >"$1.ext"
			"${ossl[@]}" x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
				-days 30 -sha256 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
			rm -f "$1.csr" "$1.ext"
		}
		mkcert server localhost "DNS:localhost,IP:127.0.0.1"
		mkcert wrong wrong.invalid "DNS:wrong.invalid"
		# A private server's certificate made the common way: self-signed and
		# CA:TRUE, served by Dovecot on SELFSIGNED_HOST (127.0.0.3), IMAPS_PORT.
		"${ossl[@]}" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout selfsigned.key -out selfsigned.pem -days 30 -subj "/CN=127.0.0.3" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "subjectAltName=IP:127.0.0.3,DNS:localhost" 2>/dev/null
		cat server.pem ca.pem >server-chain.pem
		chmod 0600 ca.key
		chmod 0640 server.key wrong.key selfsigned.key
		chmod 0644 ./*.pem
	) || die "TLS certificate generation with openssl failed"
}

# ---------------------------------------------------------------- dovecot --

write_dovecot_conf() {
	local dir=$1 imap_inner=$2 imaps=$3 lmtp=$4
	cat >"$dir/dovecot.conf" <<EOF
# Generated by mailstack.sh — standalone, does not include /etc/dovecot.
base_dir = $dir/run/dovecot
state_dir = $dir/state
instance_name = mailstack-$(basename "$dir")
log_path = $dir/dovecot.log
info_log_path = $dir/dovecot.log
debug_log_path = $dir/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
shutdown_clients = yes

ssl = yes
ssl_cert = <$dir/tls/server-chain.pem
ssl_key = <$dir/tls/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes

auth_mechanisms = plain login
auth_failure_delay = 0
auth_username_format = %Lu
auth_cache_size = 0

mail_location = maildir:~/Maildir
first_valid_uid = $MAIL_UID
first_valid_gid = $MAIL_GID
mail_uid = mail
mail_gid = mail
lmtp_save_to_detail_mailbox = no
recipient_delimiter = +
imap_idle_notify_interval = 2 mins

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu $dir/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%Lu $dir/passwd
}

namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    auto = create
    special_use = \\Sent
  }
  mailbox Drafts {
    auto = create
    special_use = \\Drafts
  }
  mailbox Trash {
    auto = create
    special_use = \\Trash
  }
  mailbox Triaged {
    auto = create
  }
  mailbox Quarantine {
    auto = create
  }
}

service imap-login {
  # Reached only through imap-forward.pl (IMAP_PORT), see start_forwarder.
  inet_listener imap {
    address = 127.0.0.1
    port = $imap_inner
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $imaps
    ssl = yes
  }
  # The same IMAPS port on 127.0.0.3, with the self-signed certificate.
  inet_listener imaps_selfsigned {
    address = 127.0.0.3
    port = $imaps
    ssl = yes
  }
}
local 127.0.0.3 {
  ssl_cert = <$dir/tls/selfsigned.pem
  ssl_key = <$dir/tls/selfsigned.key
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $lmtp
  }
}
service auth {
  unix_listener $dir/run/auth-postfix {
    mode = 0666
  }
}
# No auth penalty: a failed login must never slow down the next one.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF
}

# kill -0 succeeds for zombies too (PID 1 may be slow to reap daemons).
alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
	[[ -n $st && $st != Z && $st != X ]]
}

dovecot_pid() {
	local pidf="$1/run/dovecot/master.pid" pid
	[[ -s $pidf ]] || return 1
	pid=$(head -n1 "$pidf")
	[[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
	# guard against pid reuse
	grep -q dovecot "/proc/$pid/comm" 2>/dev/null || return 1
	echo "$pid"
}

# ------------------------------------------------------- IMAP forwarder --
#
# Dovecot treats a connection whose remote IP equals its local IP as
# "secured" and then allows plaintext LOGIN without STARTTLS, whatever
# disable_plaintext_auth/ssl say (login-common: secured = ssl || trusted ||
# remote_ip == local_ip). Every client of a loopback-only stack connects
# 127.0.0.1 -> 127.0.0.1, so the plain IMAP port would accept LOGIN in the
# clear. To really enforce "LOGIN only after STARTTLS", IMAP_PORT is a tiny
# byte-for-byte TCP forwarder (perl-base only; STARTTLS passes through
# untouched) that connects to Dovecot's internal listener from 127.0.0.2.

write_forwarder() {
	cat >"$1/imap-forward.pl" <<'PERL'
#!/usr/bin/perl
# usage: imap-forward.pl LISTEN_PORT INNER_PORT PIDFILE
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;

my ($lport, $iport, $pidfile) = @ARGV;
$SIG{CHLD} = 'IGNORE';
$SIG{PIPE} = 'IGNORE';
my $l = IO::Socket::INET->new(
	LocalAddr => '127.0.0.1', LocalPort => $lport, Proto => 'tcp',
	Listen => 128, ReuseAddr => 1,
) or die "imap-forward: listen 127.0.0.1:$lport: $!\n";
open(my $fh, '>', "$pidfile.tmp") or die "imap-forward: $pidfile: $!\n";
print $fh "$$\n";
close $fh;
rename("$pidfile.tmp", $pidfile) or die "imap-forward: $pidfile: $!\n";
print STDERR "imap-forward: 127.0.0.1:$lport -> 127.0.0.1:$iport (from 127.0.0.2)\n";

while (1) {
	my $c = $l->accept or next;
	my $pid = fork;
	if (!defined $pid) { close $c; next; }
	if ($pid) { close $c; next; }
	close $l;
	my $u = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1', PeerPort => $iport, Proto => 'tcp',
		LocalAddr => '127.0.0.2',
	) or do { warn "imap-forward: connect 127.0.0.1:$iport: $!\n"; exit 1 };
	pump($c, $u);
	exit 0;
}

sub pump {
	my ($x, $y) = @_;
	my %dst = (fileno($x) => [$x, $y], fileno($y) => [$y, $x]);
	my $sel = IO::Select->new($x, $y);
	while ($sel->count) {
		for my $s ($sel->can_read) {
			my ($from, $to) = @{ $dst{ fileno($s) } };
			my $n = sysread($from, my $buf, 65536);
			if (!$n) { $sel->remove($from); shutdown($to, 1); next; }
			my $off = 0;
			while ($off < $n) {
				my $w = syswrite($to, $buf, $n - $off, $off);
				return unless defined $w;
				$off += $w;
			}
		}
	}
}
PERL
	chmod 0755 "$1/imap-forward.pl"
}

forwarder_pid() {
	local pidf="$1/run/imap-forward.pid" pid
	[[ -s $pidf ]] || return 1
	pid=$(tr -dc '0-9' <"$pidf")
	[[ -n $pid ]] && alive "$pid" || return 1
	grep -q imap-forward "/proc/$pid/cmdline" 2>/dev/null || return 1
	echo "$pid"
}

start_forwarder() { # dir listen_port inner_port
	command -v perl >/dev/null 2>&1 || return 1
	rm -f "$1/run/imap-forward.pid"
	# Own session (pgid = pid) so stop can end it together with its
	# per-connection children; no inherited stdio.
	run_clean "$1/imap-forward.out" \
		setsid -f perl "$1/imap-forward.pl" "$2" "$3" "$1/run/imap-forward.pid"
}

# ---------------------------------------------------------------- postfix --

write_postfix_conf() {
	local dir=$1 smtp=$2 subm=$3 smtps=$4 lmtp=$5 pf="$1/postfix"
	cat >"$pf/main.cf" <<EOF
# Generated by mailstack.sh — loopback only, nothing leaves the machine.
compatibility_level = 3.6
config_directory = $pf
queue_directory = $dir/postfix-queue
data_directory = $dir/postfix-data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $dir/postfix.log
maillog_file_prefixes = /var, /dev/stdout, $dir
syslog_name = postfix-mailstack

myhostname = mx.hexon.test
mydomain = hexon.test
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mynetworks_style = host

# No local delivery, no relaying, no DNS: every local domain goes to Dovecot
# over LMTP; everything else bounces locally.
mydestination =
local_recipient_maps =
local_transport = error:no local delivery
alias_maps =
alias_database =
virtual_alias_domains =
virtual_mailbox_domains = $DOMAINS
virtual_transport = lmtp:inet:127.0.0.1:$lmtp
relayhost =
default_transport = error:no outside delivery
relay_transport = error:no outside delivery
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
smtpd_peername_lookup = no
biff = no
append_dot_mydomain = no

smtpd_banner = \$myhostname ESMTP mailstack
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
smtpd_hard_error_limit = 200

smtpd_tls_cert_file = $dir/tls/server-chain.pem
smtpd_tls_key_file = $dir/tls/server.key
smtpd_tls_security_level = may
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtp_tls_security_level = none
lmtp_tls_security_level = none

smtpd_sasl_type = dovecot
smtpd_sasl_path = $dir/run/auth-postfix
smtpd_sasl_auth_enable = no
broken_sasl_auth_clients = no

# Fast retries / short lifetimes suit tests.
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 30s
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
delay_warning_time = 0
EOF

	# Minimal master.cf; every chroot column is n.
	local sub="-o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject"
	cat >"$pf/master.cf" <<EOF
# Generated by mailstack.sh
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$smtp inet n - n - - smtpd
  -o syslog_name=postfix-mailstack/smtp
  -o smtpd_tls_security_level=may
  -o smtpd_sasl_auth_enable=no
127.0.0.1:$subm inet n - n - - smtpd
  -o syslog_name=postfix-mailstack/submission
  $sub
127.0.0.1:$smtps inet n - n - - smtpd
  -o syslog_name=postfix-mailstack/smtps
  -o smtpd_tls_wrappermode=yes
  $sub
pickup     unix  n       -       n       60      1       pickup
cleanup    unix  n       -       n       -       0       cleanup
qmgr       unix  n       -       n       300     1       qmgr
tlsmgr     unix  -       -       n       1000?   1       tlsmgr
rewrite    unix  -       -       n       -       -       trivial-rewrite
bounce     unix  -       -       n       -       0       bounce
defer      unix  -       -       n       -       0       bounce
trace      unix  -       -       n       -       0       bounce
verify     unix  -       -       n       -       1       verify
flush      unix  n       -       n       1000?   0       flush
proxymap   unix  -       -       n       -       -       proxymap
proxywrite unix  -       -       n       -       1       proxymap
smtp       unix  -       -       n       -       -       smtp
relay      unix  -       -       n       -       -       smtp
showq      unix  n       -       n       -       -       showq
error      unix  -       -       n       -       -       error
retry      unix  -       -       n       -       -       error
discard    unix  -       -       n       -       -       discard
local      unix  -       n       n       -       -       local
virtual    unix  -       n       n       -       -       virtual
lmtp       unix  -       -       n       -       -       lmtp
anvil      unix  -       -       n       -       1       anvil
scache     unix  -       -       n       -       1       scache
postlog    unix-dgram n  -       n       -       1       postlogd
EOF
	chmod 0644 "$pf/main.cf" "$pf/master.cf"
	# Postfix waits ~2 s if main.cf changed within the last seconds.
	touch -d '1 minute ago' "$pf/main.cf" "$pf/master.cf"
}

postfix_pid() {
	local pidf="$1/postfix-queue/pid/master.pid" pid
	[[ -s $pidf ]] || return 1
	pid=$(tr -dc '0-9' <"$pidf")
	[[ -n $pid ]] && alive "$pid" || return 1
	grep -q master "/proc/$pid/comm" 2>/dev/null || return 1
	echo "$pid"
}

# ------------------------------------------------------------------- stop --

wait_gone() { # pid deadline_s
	local pid=$1 i
	for ((i = 0; i < $2 * 10; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	return 1
}

stop_stack() {
	# Signal everything first, then wait: Dovecot's master needs ~2.5 s to
	# exit after SIGTERM and Postfix's ~1.5 s, so this runs them in parallel.
	local dir=$1 fwd="" pfx="" dov="" pid
	if fwd=$(forwarder_pid "$dir"); then
		kill -TERM -- "-$fwd" 2>/dev/null || kill -TERM "$fwd" 2>/dev/null || true
	fi
	if pfx=$(postfix_pid "$dir"); then
		run_clean "$dir/postfix.out" postfix -c "$dir/postfix" stop ||
			kill -TERM "$pfx" 2>/dev/null || true
	fi
	if dov=$(dovecot_pid "$dir"); then
		if [[ -f $dir/dovecot.conf ]]; then
			# doveadm stop signals the master and waits for it; background it.
			run_clean "$dir/dovecot.out" doveadm -c "$dir/dovecot.conf" stop &
		else
			kill -TERM "$dov" 2>/dev/null || true
		fi
	fi
	for pid in $fwd $pfx $dov; do
		wait_gone "$pid" 10 || {
			log "pid $pid did not exit after SIGTERM; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			wait_gone "$pid" 2 || true
		}
	done
	[[ -z $fwd ]] || kill -KILL -- "-$fwd" 2>/dev/null || true
	wait 2>/dev/null || true
}

cmd_stop() {
	need_root
	local dir
	dir=$(abs_dir "$1")
	[[ -d $dir ]] || { log "stop: $dir does not exist; nothing to stop"; return 0; }
	stop_stack "$dir"
	log "stopped stack in $dir"
}

cmd_status() {
	local dir rc=0 pid
	dir=$(abs_dir "$1")
	if pid=$(dovecot_pid "$dir"); then
		echo "dovecot: running (pid $pid)"
	else
		echo "dovecot: not running"
		rc=1
	fi
	if pid=$(postfix_pid "$dir"); then
		echo "postfix: running (pid $pid)"
	else
		echo "postfix: not running"
		rc=1
	fi
	if pid=$(forwarder_pid "$dir"); then
		echo "imap-forward: running (pid $pid)"
	else
		echo "imap-forward: not running"
		rc=1
	fi
	if ((rc == 0)) && [[ -f $dir/env ]]; then
		local k v
		while IFS='=' read -r k v; do
			case $k in
			IMAPS_PORT | IMAP_PORT | SUBMISSION_PORT | SMTPS_PORT | SMTP_PORT | LMTP_PORT)
				port_open "$v" || {
					echo "$k $v: not accepting connections"
					rc=1
				}
				;;
			esac
		done <"$dir/env"
	fi
	return "$rc"
}

# ------------------------------------------------------------------ start --

make_traversable() { # every parent of DIR gets o+x
	local p=$1
	while [[ $p != / ]]; do
		p=$(dirname "$p")
		if [[ -d $p ]] && ! [[ $(stat -c %A "$p") == ?????????[xt] ]]; then
			chmod o+x "$p" || die "cannot chmod o+x $p (dovecot users must traverse it)"
			log "note: chmod o+x $p"
		fi
	done
}

write_env() {
	local dir=$1 smtp=$2 subm=$3 smtps=$4 lmtp=$5 imap=$6 imaps=$7
	local tmp="$dir/env.tmp.$$"
	cat >"$tmp" <<EOF
MAILSTACK_DIR=$dir
IMAPS_PORT=$imaps
IMAP_PORT=$imap
SUBMISSION_PORT=$subm
SMTPS_PORT=$smtps
SMTP_PORT=$smtp
LMTP_PORT=$lmtp
CA_FILE=$dir/tls/ca.pem
DOMAINS=$DOMAINS
PASSWD_FILE=$dir/passwd
HOST=127.0.0.1
TLS_NAME=localhost
SERVER_CERT=$dir/tls/server.pem
SERVER_KEY=$dir/tls/server.key
WRONG_CERT=$dir/tls/wrong.pem
WRONG_KEY=$dir/tls/wrong.key
SELFSIGNED_HOST=127.0.0.3
SELFSIGNED_CERT=$dir/tls/selfsigned.pem
SELFSIGNED_KEY=$dir/tls/selfsigned.key
DOVECOT_CONF=$dir/dovecot.conf
DOVECOT_LOG=$dir/dovecot.log
POSTFIX_CONFIG=$dir/postfix
POSTFIX_LOG=$dir/postfix.log
EOF
	mv -f "$tmp" "$dir/env"
}

# One attempt at configuring + starting both servers. Returns non-zero (after
# stopping whatever came up) on failure; sets FAIL_WHAT.
FAIL_WHAT=""
try_start() {
	local dir=$1 ports p
	ports=$(pick_ports 7) || {
		FAIL_WHAT="picking free ports"
		return 1
	}
	local smtp subm smtps lmtp imap imaps imap_inner
	read -r smtp subm smtps lmtp imap imaps imap_inner <<<"$ports"

	write_dovecot_conf "$dir" "$imap_inner" "$imaps" "$lmtp"
	write_forwarder "$dir"
	write_postfix_conf "$dir" "$smtp" "$subm" "$smtps" "$lmtp"
	rm -f "$dir/env"

	: >"$dir/dovecot.out"
	: >"$dir/postfix.out"
	: >"$dir/imap-forward.out"
	if ! run_clean "$dir/dovecot.out" dovecot -c "$dir/dovecot.conf"; then
		FAIL_WHAT="starting dovecot (dovecot -c $dir/dovecot.conf)"
		stop_stack "$dir"
		return 1
	fi
	if ! run_clean "$dir/postfix.out" postfix -c "$dir/postfix" start; then
		FAIL_WHAT="starting postfix (postfix -c $dir/postfix start)"
		stop_stack "$dir"
		return 1
	fi

	if ! start_forwarder "$dir" "$imap" "$imap_inner"; then
		FAIL_WHAT="starting the IMAP forwarder (perl $dir/imap-forward.pl)"
		stop_stack "$dir"
		return 1
	fi

	local deadline=$((SECONDS + START_DEADLINE)) pending
	while :; do
		pending=()
		for p in $imap $imap_inner $imaps $lmtp $smtp $subm $smtps; do
			port_open "$p" || pending+=("$p")
		done
		((${#pending[@]} == 0)) && break
		if ! dovecot_pid "$dir" >/dev/null; then
			FAIL_WHAT="dovecot exited during startup"
			stop_stack "$dir"
			return 1
		fi
		if ! postfix_pid "$dir" >/dev/null; then
			FAIL_WHAT="postfix master exited during startup"
			stop_stack "$dir"
			return 1
		fi
		if { [[ -s $dir/run/imap-forward.pid ]] && ! forwarder_pid "$dir" >/dev/null; } ||
			grep -q 'imap-forward: listen' "$dir/imap-forward.out" 2>/dev/null; then
			FAIL_WHAT="IMAP forwarder exited during startup"
			stop_stack "$dir"
			return 1
		fi
		if ((SECONDS >= deadline)); then
			FAIL_WHAT="ports ${pending[*]} not accepting connections after ${START_DEADLINE}s (imap=$imap imap-inner=$imap_inner imaps=$imaps lmtp=$lmtp smtp=$smtp submission=$subm smtps=$smtps)"
			stop_stack "$dir"
			return 1
		fi
		sleep 0.05
	done
	[[ -S $dir/run/auth-postfix ]] || {
		FAIL_WHAT="dovecot auth socket $dir/run/auth-postfix missing"
		stop_stack "$dir"
		return 1
	}
	write_env "$dir" "$smtp" "$subm" "$smtps" "$lmtp" "$imap" "$imaps"
}

cmd_start() {
	need_root
	local dir
	dir=$(abs_dir "$1")
	for t in dovecot doveadm postfix postconf openssl flock perl setsid; do
		command -v "$t" >/dev/null 2>&1 || die "'$t' not found; run: $0 install"
	done
	for u in dovecot dovenull postfix mail; do
		id -u "$u" >/dev/null 2>&1 || die "user '$u' missing; run: $0 install"
	done

	mkdir -p "$dir"
	chmod 0755 "$dir"
	make_traversable "$dir"

	exec 9>"$dir/.start.lock"
	flock 9

	if dovecot_pid "$dir" >/dev/null || postfix_pid "$dir" >/dev/null ||
		forwarder_pid "$dir" >/dev/null; then
		log "a stack is already running in $dir; stopping it first"
		stop_stack "$dir"
	fi

	# Postfix's queue/data dirs live outside its config dir: postfix-script
	# walks config_directory and warns about every non-root-owned entry.
	mkdir -p "$dir/run" "$dir/state" "$dir/mail" "$dir/postfix" "$dir/postfix-queue" "$dir/postfix-data"
	chmod 0755 "$dir/run" "$dir/postfix" "$dir/postfix-queue"
	chmod 0750 "$dir/state"
	chown root:root "$dir/postfix" "$dir/postfix-queue"
	chown postfix:postfix "$dir/postfix-data"
	chmod 0700 "$dir/postfix-data"
	chown "$MAIL_UID:$MAIL_GID" "$dir/mail"
	chmod 0750 "$dir/mail"
	[[ -f $dir/passwd ]] || : >"$dir/passwd"
	chown root:dovecot "$dir/passwd"
	chmod 0640 "$dir/passwd"
	touch "$dir/dovecot.log" "$dir/postfix.log"

	gen_tls "$dir"

	local attempt
	for attempt in 1 2 3; do
		if try_start "$dir"; then
			flock -u 9
			exec 9>&-
			log "started: dovecot + postfix in $dir"
			cat "$dir/env"
			return 0
		fi
		# A port grabbed by someone else between picking and binding shows
		# up as "Address already in use"; retry with fresh ports then.
		if grep -qi 'address already in use' "$dir/dovecot.out" "$dir/dovecot.log" \
			"$dir/imap-forward.out" "$dir/postfix.out" "$dir/postfix.log" 2>/dev/null && ((attempt < 3)); then
			log "port collision ($FAIL_WHAT); retrying with new ports"
			: >"$dir/dovecot.log"
			: >"$dir/postfix.log"
			continue
		fi
		break
	done
	log "start failed: $FAIL_WHAT"
	show_logs "$dir/dovecot.out" "$dir/dovecot.log" "$dir/imap-forward.out" "$dir/postfix.out" "$dir/postfix.log"
	exit 1
}

# ---------------------------------------------------------------- adduser --

cmd_adduser() {
	need_root
	local dir addr=$2 pass=$3
	dir=$(abs_dir "$1")
	[[ -d $dir ]] || die "adduser: $dir does not exist (run start first)"
	addr=${addr,,}
	[[ $addr =~ ^[a-z0-9._+-]+@[a-z0-9.-]+$ ]] || die "adduser: invalid address '$2'"
	[[ $pass != *:* && $pass != *$'\n'* && -n $pass ]] ||
		die "adduser: password must be non-empty and contain no ':' or newline (passwd-file format)"

	local home="$dir/mail/$addr"
	(
		flock 8
		[[ -f $dir/passwd ]] || {
			: >"$dir/passwd"
			chown root:dovecot "$dir/passwd"
			chmod 0640 "$dir/passwd"
		}
		local line
		line=$(printf '%s:{PLAIN}%s:%d:%d::%s::' "$addr" "$pass" "$MAIL_UID" "$MAIL_GID" "$home")
		if ! cut -d: -f1 "$dir/passwd" | grep -qxF -- "$addr"; then
			printf '%s\n' "$line" >>"$dir/passwd"
		elif ! grep -qxF -- "$line" "$dir/passwd"; then
			# Existing address with another password: replace its line
			# atomically (Dovecot re-reads the file at every login).
			local tmp="$dir/passwd.tmp.$$"
			ADDR=$addr LINE=$line awk -F: '$1 == ENVIRON["ADDR"] { print ENVIRON["LINE"]; next } { print }' \
				"$dir/passwd" >"$tmp"
			chown root:dovecot "$tmp"
			chmod 0640 "$tmp"
			mv -f "$tmp" "$dir/passwd"
		fi
		if [[ ! -d $dir/mail ]]; then
			mkdir -p "$dir/mail"
			chown "$MAIL_UID:$MAIL_GID" "$dir/mail"
			chmod 0750 "$dir/mail"
		fi
		mkdir -p "$home"
		chown "$MAIL_UID:$MAIL_GID" "$home"
		chmod 0700 "$home"
	) 8>>"$dir/.users.lock" || die "adduser: failed to add $addr"
}

# ------------------------------------------------------------------- main --

main() {
	local cmd=${1:-}
	shift || true
	case $cmd in
	install) (($# == 0)) || usage; cmd_install ;;
	start) (($# == 1)) || usage; cmd_start "$1" ;;
	stop) (($# == 1)) || usage; cmd_stop "$1" ;;
	status) (($# == 1)) || usage; cmd_status "$1" ;;
	adduser) (($# == 3)) || usage; cmd_adduser "$1" "$2" "$3" ;;
	*) usage ;;
	esac
}

main "$@"
