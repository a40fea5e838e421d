#!/usr/bin/perl

# A mock LLM API server for the tier router tests.
#
#   perl t/mock/mock_llm.pl --port N --name small [--listen 127.0.0.1]
#                           [--pidfile F] [--verbose] [--watch-pid PID]
#                           [--count-file F] [--files DIR]
#
# --watch-pid: exit (as on SIGTERM) once process PID is gone, so that a
# test harness killed without cleanup leaves no server behind.
#
# --count-file: for every request to a model endpoint (whatever its
# method, headers or body), append the line
#   "<name> <path> <stream 0|1> <include_usage 0|1|absent>\n"
# to F (path without the query string; stream and
# stream_options.include_usage as the request body has them, "absent" when
# include_usage is not there).  Each line is one append, so the lines of
# concurrent requests do not mix.
#
# --files: serve the files of DIR under GET /files/NAME.
#
# --provider openai|anthropic: answer only that provider's model endpoints
# (chat completions and responses, or messages); the other's get a 404 in
# this provider's error shape, as a real provider would answer.
#
# --refuse P[,P]: a model request whose body has a top-level member P gets
# a 400 "Unsupported parameter", as models that reject a parameter do.
#
# --adaptive-only: an Anthropic request with "thinking": {"type":
# "enabled"} gets a 400, as models that only take adaptive thinking do.
#
# Endpoints, matched by the suffix of the path (query string ignored):
#   .../chat/completions   OpenAI chat completions
#   .../responses          OpenAI responses
#   .../messages           Anthropic messages
#   GET /health            200 "ok"
#   GET /files/NAME        200, Content-Type application/json, the file
#                          DIR/NAME (--files DIR); 404 if there is no such
#                          file, no --files, or NAME is not /^[\w.-]+$/;
#                          405 to methods other than GET and HEAD; never
#                          a model endpoint, whatever NAME is
#   GET .../models, GET .../responses/ID, POST .../embeddings,
#   POST .../moderations,
#   POST .../messages/count_tokens, .../messages/batches
#                          200, the API's shape (a model list, a stored
#                          response, an embedding, a token count, a batch)
#   anything else          404, OpenAI-shaped JSON error
#
# Signed reasoning as the providers have it: an Anthropic answer to a
# request with thinking on opens with a thinking block whose signature is
# "sig-MODEL-ID"; a Responses answer to a request that includes
# "reasoning.encrypted_content" opens with a reasoning item whose
# encrypted_content is "enc-MODEL-ID".  A request whose history carries
# one made for another model gets the providers' 400 ("Invalid
# `signature` in `thinking` block", "invalid_encrypted_content").
#
# Every answer carries X-Mock-Name: <--name>, and the model that the request
# body asked for.  Usage: input tokens = int(body bytes / 4) (at least 1),
# output tokens = number of words in the answer.  "stream": true answers
# with the dialect's server-sent events.
#
# Control headers:
#   X-Mock-For: NAME[,NAME]   the other X-Mock-* headers apply only to the
#                             servers of these --name (the others answer
#                             as if there were none)
#   X-Mock-Text: STRING       the answer's text is STRING (JSON answers)
#   X-Mock-Logprob: F         a chat request with "logprobs": true gets
#                             choices[0].logprobs.content, one entry per
#                             word, each of logprob F (default -0.05), and
#                             the answer X-Mock-Asked-Logprobs: 1
#   X-Mock-Finish: length|refusal  JSON answers: cut short by the output
#                             limit (chat finish_reason "length", responses
#                             status "incomplete", Anthropic stop_reason
#                             "max_tokens") or refused (chat message.refusal,
#                             responses content part "refusal", Anthropic
#                             stop_reason "refusal"); Anthropic also
#                             refusal:CATEGORY (stop_details.category) and
#                             any other stop_reason as it is (pause_turn,
#                             with no content; model_context_window_exceeded)
#   X-Mock-At-NAME-X: V       X-Mock-X: V for the server NAME only (after
#                             X-Mock-For), e.g. X-Mock-At-mid-Words: 3000
#   X-Mock-Gzip: always|never answers are gzip-encoded (JSON and SSE,
#                             whole) when the request accepts gzip, as
#                             real model servers do; "always" even when
#                             it does not, "never" not at all
#   X-Mock-Latency-Ms: N      sleep N ms before answering
#   X-Mock-Status: 429|500|503|...   answer that status, dialect-shaped error
#   X-Mock-Break-After: N     streaming: close the connection after N events
#                             (no terminator); not streaming: send the
#                             headers and only N bytes of the body, then close
#   X-Mock-Event-Delay-Ms: N  streaming: sleep N ms between events
#   X-Mock-Stream-Error: 1    Anthropic streaming: 200, message_start, ping,
#                             then an overloaded_error event, no content
#   X-Mock-Words: N           length of the answer in words (default 9)
#   X-Mock-Echo: 1            200, Content-Type application/json, the exact
#                             request body; X-Mock-Request-Length (received
#                             body length), X-Mock-Request-Sha1 (its SHA-1
#                             hex), X-Mock-Request-Content-Length (the
#                             Content-Length header received, or "chunked",
#                             or "none"), X-Mock-Request-Method,
#                             X-Mock-Request-Uri,
#                             X-Mock-Request-Accept-Encoding
#   X-Mock-Input-Tokens: N    report N input tokens instead of the computed
#                             count (the request body need not match)
#   X-Mock-Output-Tokens: N   report N output tokens instead of the number
#                             of words (the answer need not match); with
#                             X-Mock-Reasoning-Tokens this is the total
#   X-Mock-Cached-Tokens: N   N of the input tokens were cached: OpenAI
#                             chat usage.prompt_tokens_details.cached_tokens,
#                             responses usage.input_tokens_details
#                             .cached_tokens (prompt/input tokens stay the
#                             total); Anthropic usage.cache_read_input_tokens
#                             and input_tokens reduced by N (at least 0), as
#                             Anthropic counts cache reads apart, in the
#                             answer and in the stream's message_start
#   X-Mock-Cache-Write-Tokens: N  N of the input tokens were written to the
#                             cache: OpenAI *_tokens_details
#                             .cache_write_tokens (in the input count);
#                             Anthropic cache_creation_input_tokens and
#                             cache_creation (5-minute writes), input_tokens
#                             reduced by N
#   X-Mock-Cache-1h-Tokens: N  Anthropic: N of those writes for an hour
#                             (cache_creation.ephemeral_1h_input_tokens)
#   X-Mock-Web-Search: N      Anthropic usage.server_tool_use
#                             .web_search_requests
#   X-Mock-Service-Tier: T    the answer ran on T: OpenAI "service_tier" in
#                             the answer (every chat chunk, the response
#                             object), Anthropic usage.service_tier
#   X-Mock-Answer-Model: M    the answer's "model" is M, not the request's
#   X-Mock-Reasoning-Tokens: N  OpenAI chat usage.completion_tokens_details
#                             .reasoning_tokens, responses usage
#                             .output_tokens_details.reasoning_tokens; the
#                             output tokens include them (words + N, or
#                             X-Mock-Output-Tokens); Anthropic: ignored
#   X-Mock-Usage: none        no usage anywhere: no "usage" in the JSON
#                             answer, no usage chunk in a chat stream (even
#                             with stream_options.include_usage) and no
#                             "usage": null in its chunks, no usage in the
#                             responses stream's response objects, none in
#                             Anthropic's message_start and message_delta
#   X-Mock-Chunked: 1         a JSON answer to an HTTP/1.1 request is sent
#                             chunked, without Content-Length (in pieces
#                             of X-Mock-Split, if given)
#   X-Mock-Split: N           write the body (each event of a stream, or the
#                             JSON body) in pieces of at most N bytes, 2 ms
#                             apart, so that a proxy reads it in many reads;
#                             when chunked, each piece is a chunk; also with
#                             X-Mock-Break-After (the bytes or events it
#                             lets through are split the same way)
#
# The token, usage and split headers apply to every dialect, JSON and
# streaming; the token headers take a count of 0 or more (other values are
# ignored), and without them the usage has no *_details and no
# cache_read_input_tokens, as before.
#
# One process per connection; HTTP/1.0 and HTTP/1.1 with keep-alive;
# Content-Length and chunked request bodies; Expect: 100-continue.
# SIGTERM stops the server and its children.

use strict;
use warnings;

use Getopt::Long;
use IO::Socket::INET;
use IO::Select;
use POSIX qw(:sys_wait_h);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use JSON::PP;
use Digest::SHA qw(sha1_hex);
use Time::HiRes qw(time sleep);
use IO::Compress::Gzip qw(gzip $GzipError);

my %opt = (listen => '127.0.0.1', name => 'mock', verbose => 0);

GetOptions(\%opt, 'port=i', 'name=s', 'listen=s', 'pidfile=s', 'verbose!',
    'watch-pid=i', 'count-file=s', 'files=s', 'provider=s', 'refuse=s',
    'adaptive-only!')
    or die "usage: $0 --port N --name NAME [--listen ADDR] [--pidfile F]"
    . " [--verbose] [--watch-pid PID] [--count-file F] [--files DIR]"
    . " [--provider openai|anthropic] [--refuse P,P] [--adaptive-only]\n";

die "$0: --provider is openai or anthropic\n"
    if defined $opt{provider} && $opt{provider} !~ /^(openai|anthropic)$/;

die "$0: --port is required\n" unless $opt{port};

my $IDLE_TIMEOUT = 30;
my $JSON = JSON::PP->new->utf8->canonical;

my $listener = IO::Socket::INET->new(
    LocalAddr => $opt{listen},
    LocalPort => $opt{port},
    Proto => 'tcp',
    Listen => 256,
    ReuseAddr => 1,
) or die "$0: cannot listen on $opt{listen}:$opt{port}: $@\n";

my %kids;
my $parent = $$;

sub shutdown_server {
    return unless $$ == $parent;
    kill 'TERM', keys %kids if %kids;
    unlink $opt{pidfile} if $opt{pidfile};
    POSIX::_exit(0);
}

$SIG{TERM} = \&shutdown_server;
$SIG{INT} = \&shutdown_server;
$SIG{HUP} = 'IGNORE';
$SIG{PIPE} = 'IGNORE';
$SIG{CHLD} = sub {
    while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
        delete $kids{$pid};
    }
};

if ($opt{pidfile}) {
    open my $fh, '>', $opt{pidfile}
        or die "$0: cannot write $opt{pidfile}: $!\n";
    print $fh "$$\n";
    close $fh;
}

logv("listening on $opt{listen}:$opt{port} as \"$opt{name}\"");

my $lsel = IO::Select->new($listener);

while (1) {
    if ($opt{'watch-pid'}) {
        shutdown_server() unless kill 0, $opt{'watch-pid'};
        next unless $lsel->can_read(1);
    }

    my $c = $listener->accept;

    unless ($c) {
        next if $!{EINTR} || $!{ECONNABORTED};
        die "$0: accept: $!\n";
    }

    my $pid = fork;

    if (!defined $pid) {
        warn "$0: fork: $!\n";
        close $c;
        next;
    }

    if ($pid) {
        $kids{$pid} = 1;
        close $c;
        next;
    }

    # child

    $SIG{TERM} = 'DEFAULT';
    $SIG{INT} = 'DEFAULT';
    $SIG{CHLD} = 'DEFAULT';
    close $listener;
    eval { serve($c) };
    logv("connection error: $@") if $@;
    close $c;
    POSIX::_exit(0);
}


sub logv {
    return unless $opt{verbose};
    local $| = 1;
    print "[mock $opt{name} $$] @_\n";
}


# connection handling

sub serve {
    my ($c) = @_;

    setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1);
    binmode $c;

    my $conn = { sock => $c, buf => '', sel => IO::Select->new($c) };

    while (1) {
        my $req = read_request($conn);
        return unless $req;

        my $keep = handle($conn, $req);
        return unless $keep;
    }
}


sub fill {
    my ($conn, $timeout) = @_;

    return 0 unless $conn->{sel}->can_read($timeout // $IDLE_TIMEOUT);

    my $n = sysread($conn->{sock}, $conn->{buf}, 65536, length $conn->{buf});

    return $n ? $n : 0;
}


sub read_line {
    my ($conn) = @_;

    while ($conn->{buf} !~ /\n/) {
        fill($conn) or die "eof in chunked body\n";
    }

    $conn->{buf} =~ s/^([^\n]*)\n// or die "bad line\n";
    my $line = $1;
    $line =~ s/\r$//;
    return $line;
}


sub read_bytes {
    my ($conn, $n) = @_;

    while (length $conn->{buf} < $n) {
        fill($conn) or die "eof in body\n";
    }

    return substr($conn->{buf}, 0, $n, '');
}


sub read_request {
    my ($conn) = @_;

    my $end;

    while (1) {
        # tolerate empty lines before the request line
        $conn->{buf} =~ s/^(?:\r?\n)+//;

        if ($conn->{buf} =~ /\r?\n\r?\n/) {
            $end = $+[0];
            last;
        }

        fill($conn) or return undef;
    }

    my $head = substr($conn->{buf}, 0, $end, '');
    my @lines = split /\r?\n/, $head;
    my $rl = shift @lines;

    my ($method, $uri, $version) =
        $rl =~ m{^(\S+)\s+(\S+)(?:\s+HTTP/(\d+\.\d+))?\s*$}
        or die "bad request line \"$rl\"\n";

    $version //= '0.9';

    my (%h, $last);

    for my $l (@lines) {
        if ($l =~ /^[ \t]+(.*)$/ && defined $last) {
            $h{$last} .= " $1";
            next;
        }

        my ($k, $v) = $l =~ /^([^:]+):\s*(.*?)\s*$/ or next;
        $k = lc $k;
        $h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
        $last = $k;
    }

    my $req = {
        method => $method, uri => $uri, version => $version,
        headers => \%h, body => '',
    };

    ($req->{path} = $uri) =~ s/\?.*//s;

    if (($h{expect} // '') =~ /100-continue/i && $version eq '1.1') {
        write_all($conn, "HTTP/1.1 100 Continue\r\n\r\n");
    }

    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        $req->{cl_header} = 'chunked';

        while (1) {
            my $line = read_line($conn);
            my ($size) = $line =~ /^\s*([0-9a-fA-F]+)/
                or die "bad chunk size \"$line\"\n";
            $size = hex $size;

            if ($size == 0) {
                # trailers
                while (length(read_line($conn))) { }
                last;
            }

            $req->{body} .= read_bytes($conn, $size);
            read_line($conn);
        }

    } elsif (defined $h{'content-length'}) {
        $req->{cl_header} = $h{'content-length'};
        $req->{body} = read_bytes($conn, $h{'content-length'} + 0);

    } else {
        $req->{cl_header} = 'none';
    }

    my $conn_hdr = lc($h{connection} // '');

    if ($version eq '1.1') {
        $req->{keepalive} = $conn_hdr !~ /close/;
    } else {
        $req->{keepalive} = $conn_hdr =~ /keep-alive/;
    }

    return $req;
}


sub write_all {
    my ($conn, $data) = @_;

    my $off = 0;

    while ($off < length $data) {
        my $n = syswrite($conn->{sock}, $data, length($data) - $off, $off);
        die "write: $!\n" unless defined $n;
        $off += $n;
    }
}


# gzip as a real server does it: when the request accepts it

sub gzip_wanted {
    my ($req) = @_;

    my $g = $req->{headers}{'x-mock-gzip'} // '';

    return 0 if $g eq 'never';
    return 1 if $g eq 'always';
    return ($req->{headers}{'accept-encoding'} // '') =~ /\bgzip\b/i;
}


sub send_response {
    my ($conn, $req, $status, $headers, $body) = @_;

    if ($status == 200 && length $body && gzip_wanted($req)
        && !defined $req->{headers}{'x-mock-break-after'})
    {
        my $z;
        gzip(\$body => \$z) or die "gzip: $GzipError\n";
        $body = $z;
        $headers = [@$headers, 'Content-Encoding' => 'gzip'];
    }

    my $reason = {
        200 => 'OK', 400 => 'Bad Request', 401 => 'Unauthorized',
        403 => 'Forbidden', 404 => 'Not Found', 405 => 'Method Not Allowed',
        413 => 'Payload Too Large', 429 => 'Too Many Requests',
        500 => 'Internal Server Error', 502 => 'Bad Gateway',
        503 => 'Service Unavailable', 529 => 'Overloaded',
    }->{$status} // 'Status';

    my $keep = $req->{keepalive};
    my $ver = $req->{version} eq '1.1' ? '1.1' : '1.0';

    my $head = "HTTP/$ver $status $reason\r\n"
        . "Server: mock-llm\r\n"
        . "X-Mock-Name: $opt{name}\r\n";

    for (my $i = 0; $i < @$headers; $i += 2) {
        $head .= "$headers->[$i]: $headers->[$i + 1]\r\n";
    }

    my $break = $req->{headers}{'x-mock-break-after'};
    my $chunked = $ver eq '1.1' && !defined $break
                  && ($req->{headers}{'x-mock-chunked'} // '') eq '1';

    $head .= $chunked ? "Transfer-Encoding: chunked\r\n"
                      : "Content-Length: " . length($body) . "\r\n";
    $head .= $keep ? ($ver eq '1.0' ? "Connection: keep-alive\r\n" : '')
                   : "Connection: close\r\n";
    $head .= "\r\n";

    my $split = split_size($req);

    $body = '' if $req->{method} eq 'HEAD';

    if (defined $break && $break =~ /^\d+$/) {
        $body = substr($body, 0, $break);
        $keep = 0;
    }

    if ($chunked) {
        $conn->{pieces} = 0;
        write_all($conn, $head);
        write_split($conn, $body, $split, 1);
        write_all($conn, "0\r\n\r\n");

    } elsif ($split) {
        $conn->{pieces} = 0;
        write_all($conn, $head);
        write_split($conn, $body, $split, 0);

    } else {
        write_all($conn, $head . $body);
    }

    return $keep;
}


# X-Mock-Split: the largest piece of body to write at once, or 0

sub split_size {
    my ($req) = @_;

    my $v = $req->{headers}{'x-mock-split'} // '';

    return $v =~ /^(\d+)$/ && $1 > 0 ? $1 + 0 : 0;
}


# write $data in pieces of at most $split bytes (all at once if 0), each a
# chunk of its own if $chunked, with a 2 ms pause before each but the first
# piece of the response ($conn->{pieces} counts them)

sub write_split {
    my ($conn, $data, $split, $chunked) = @_;

    my $size = $split || length $data;

    for (my $off = 0; $off < length $data; $off += $size) {
        my $p = substr($data, $off, $size);

        sleep(0.002) if $split && $conn->{pieces}++;

        write_all($conn,
            $chunked ? sprintf("%x\r\n%s\r\n", length $p, $p) : $p);
    }
}


# the application

sub dialect_of {
    my ($path) = @_;

    return 'openai_chat' if $path =~ m{/chat/completions$};
    return 'openai_responses' if $path =~ m{/responses$};
    return 'anthropic' if $path =~ m{/messages$};
    return undef;
}


# the SDKs' other calls, as the APIs answer them (the shape only): a
# model list, a stored response, embeddings, a token count, a batch

sub other_endpoint {
    my ($req) = @_;

    my ($m, $p) = ($req->{method}, $req->{path});
    my $data = eval { $JSON->decode($req->{body}) } // {};

    if ($m eq 'GET' && $p =~ m{/models$}) {
        return { object => 'list', data => [{ id => "$opt{name}-model",
            object => 'model', created => 1700000000, owned_by => 'mock',
            type => 'model', display_name => "$opt{name} model",
            created_at => '2026-01-01T00:00:00Z' }],
            has_more => JSON::PP::false, first_id => "$opt{name}-model",
            last_id => "$opt{name}-model" };
    }

    if ($m eq 'GET' && $p =~ m{/responses/([\w-]+)$}) {
        return { id => $1, object => 'response', created_at => 1700000000,
            status => 'completed', model => "$opt{name}-model",
            output => [], usage => { input_tokens => 1, output_tokens => 1,
                                     total_tokens => 2 } };
    }

    if ($m eq 'POST' && $p =~ m{/embeddings$}) {
        return { object => 'list', model => $data->{model} // 'unknown',
            data => [{ object => 'embedding', index => 0,
                       embedding => [0.1, 0.2, 0.3] }],
            usage => { prompt_tokens => 2, total_tokens => 2 } };
    }

    if ($m eq 'POST' && $p =~ m{/moderations$}) {
        return { id => 'modr-mock', model => $data->{model} // 'unknown',
            results => [{ flagged => JSON::PP::false, categories => {},
                          category_scores => {} }] };
    }

    if ($m eq 'POST' && $p =~ m{/messages/count_tokens$}) {
        return { input_tokens => 12 };
    }

    if ($p =~ m{/messages/batches$}) {
        return { id => 'msgbatch_mock', type => 'message_batch',
            processing_status => 'in_progress', created_at =>
            '2026-01-01T00:00:00Z', expires_at => '2026-01-02T00:00:00Z',
            request_counts => { processing => 0, succeeded => 0,
                errored => 0, canceled => 0, expired => 0 },
            results_url => undef, archived_at => undef,
            cancel_initiated_at => undef, ended_at => undef }
            if $m eq 'POST';

        return { data => [], has_more => JSON::PP::false, first_id => undef,
                 last_id => undef };
    }

    return undef;
}


sub signed_elsewhere {
    my ($dialect, $data, $model) = @_;

    if ($dialect eq 'anthropic' && ref $data->{messages} eq 'ARRAY') {
        my $m = 0;

        for my $msg (@{$data->{messages}}) {
            my $c = ref $msg eq 'HASH' ? $msg->{content} : undef;
            my $b = 0;

            for my $block (ref $c eq 'ARRAY' ? @$c : ()) {
                my $sig = ref $block eq 'HASH'
                    && ($block->{type} // '') eq 'thinking'
                    ? $block->{signature} // '' : '';

                return "messages.$m.content.$b: Invalid `signature` in "
                    . "`thinking` block (mock)"
                    if $sig =~ /^sig-/ && $sig !~ /^sig-\Q$model\E-/;
                $b++;
            }

            $m++;
        }
    }

    if ($dialect eq 'openai_responses' && ref $data->{input} eq 'ARRAY') {
        for my $item (@{$data->{input}}) {
            my $enc = ref $item eq 'HASH'
                && ($item->{type} // '') eq 'reasoning'
                ? $item->{encrypted_content} // '' : '';

            return "The encrypted content for item $item->{id} could not "
                . "be verified. (invalid_encrypted_content, mock)"
                if $enc =~ /^enc-/ && $enc !~ /^enc-\Q$model\E-/;
        }
    }

    return undef;
}


sub error_body {
    my ($dialect, $status, $message) = @_;

    if (($dialect // '') eq 'anthropic') {
        my $type = {
            400 => 'invalid_request_error', 401 => 'authentication_error',
            403 => 'permission_error', 404 => 'not_found_error',
            413 => 'request_too_large', 429 => 'rate_limit_error',
            500 => 'api_error', 503 => 'overloaded_error',
            529 => 'overloaded_error',
        }->{$status} // 'api_error';

        return $JSON->encode({
            type => 'error',
            error => { type => $type, message => $message },
        });
    }

    my ($type, $code) = @{{
        400 => ['invalid_request_error', undef],
        401 => ['invalid_request_error', 'invalid_api_key'],
        404 => ['invalid_request_error', 'not_found'],
        413 => ['invalid_request_error', 'request_too_large'],
        429 => ['rate_limit_error', 'rate_limit_exceeded'],
        500 => ['server_error', undef],
        503 => ['server_error', 'overloaded'],
    }->{$status} // ['server_error', undef]};

    return $JSON->encode({
        error => {
            message => $message, type => $type, param => undef,
            code => $code,
        },
    });
}


sub handle {
    my ($conn, $req) = @_;

    my $h = $req->{headers};

    # X-Mock-For: the control headers are for the named servers only

    if (defined $h->{'x-mock-for'}) {
        my %for = map { $_ => 1 } split /\s*,\s*/, $h->{'x-mock-for'};

        unless ($for{$opt{name}}) {
            delete $h->{$_} for grep { /^x-mock-(?!at-)/ } keys %$h;
        }
    }

    # X-Mock-At-NAME-Control: X-Mock-Control for the server NAME only

    for my $k (grep { /^x-mock-at-/ } keys %$h) {
        my $v = delete $h->{$k};
        $h->{"x-mock-$1"} = $v if $k =~ /^x-mock-at-\Q$opt{name}\E-(.+)$/;
    }

    # nothing under /files/ is a model endpoint, not even /files/messages
    my ($file) = $req->{path} =~ m{^/files/(.*)$}s;
    my $dialect = defined $file ? undef : dialect_of($req->{path});

    logv("$req->{method} $req->{uri} HTTP/$req->{version} body="
        . length($req->{body}));

    count_request($req) if defined $dialect && $opt{'count-file'};

    if (($h->{'x-mock-latency-ms'} // '') =~ /^(\d+)$/ && $1 > 0) {
        sleep($1 / 1000);
    }

    if ($req->{path} eq '/health') {
        return send_response($conn, $req, 200,
            ['Content-Type' => 'text/plain'], "ok");
    }

    if (($h->{'x-mock-status'} // '') =~ /^([1-5]\d\d)$/ && $1 != 200) {
        my $status = $1;
        my @hdr = ('Content-Type' => 'application/json');
        push @hdr, 'Retry-After' => 1 if $status == 429;

        my $msg = {
            429 => 'Rate limit reached (mock).',
            500 => 'The server had an error processing your request (mock).',
            503 => 'The engine is currently overloaded (mock).',
        }->{$status} // "Mock status $status.";

        return send_response($conn, $req, $status, \@hdr,
            error_body($dialect, $status, $msg));
    }

    if (($h->{'x-mock-echo'} // '') eq '1') {
        my $b = $req->{body};

        return send_response($conn, $req, 200, [
            'Content-Type' => 'application/json',
            'X-Mock-Request-Length' => length($b),
            'X-Mock-Request-Sha1' => sha1_hex($b),
            'X-Mock-Request-Content-Length' => $req->{cl_header},
            'X-Mock-Request-Method' => $req->{method},
            'X-Mock-Request-Uri' => $req->{uri},
            'X-Mock-Request-Accept-Encoding'
                => $h->{'accept-encoding'} // 'none',
        ], $b);
    }

    if (defined $file) {
        return serve_file($conn, $req, $file);
    }

    unless (defined $dialect) {
        my $other = other_endpoint($req);

        return send_response($conn, $req, 200,
            ['Content-Type' => 'application/json'], $JSON->encode($other))
            if $other;

        return send_response($conn, $req, 404,
            ['Content-Type' => 'application/json'],
            error_body(undef, 404, "Unknown endpoint $req->{path} (mock)."));
    }

    # --provider: the other provider's API is not served here

    if (defined $opt{provider}
        && ($dialect eq 'anthropic') != ($opt{provider} eq 'anthropic'))
    {
        return send_response($conn, $req, 404,
            ['Content-Type' => 'application/json'],
            error_body($opt{provider} eq 'anthropic' ? 'anthropic' : undef,
                404, "Unknown endpoint $req->{path} "
                . "(mock $opt{provider})."));
    }

    my $data = eval { $JSON->decode($req->{body}) };

    if (!$data || ref $data ne 'HASH') {
        return send_response($conn, $req, 400,
            ['Content-Type' => 'application/json'],
            error_body($dialect, 400,
                "We could not parse the JSON body of your request (mock)."));
    }

    # --refuse, --adaptive-only: what this model rejects

    for my $p (split /,/, $opt{refuse} // '') {
        next unless exists $data->{$p};

        return send_response($conn, $req, 400,
            ['Content-Type' => 'application/json'],
            error_body($dialect, 400, "Unsupported parameter: '$p' is not "
                . "supported with this model (mock)."));
    }

    if ($opt{'adaptive-only'} && ref $data->{thinking} eq 'HASH'
        && ($data->{thinking}{type} // '') eq 'enabled')
    {
        return send_response($conn, $req, 400,
            ['Content-Type' => 'application/json'],
            error_body($dialect, 400, "thinking.type.enabled is not "
                . "supported for this model. Use thinking.type.adaptive "
                . "and output_config.effort (mock)."));
    }

    my $model = $data->{model};
    $model = 'unknown' unless defined $model && !ref $model;

    # signed reasoning, as the providers check it: a thinking block's
    # signature or a reasoning item's encrypted_content that this mock
    # made names its model; another model's is a 400 no retry fixes
    # (signatures that do not start "sig-" / "enc-" are not checked)

    my $foreign = signed_elsewhere($dialect, $data, $model);

    if ($foreign) {
        return send_response($conn, $req, 400,
            ['Content-Type' => 'application/json'],
            error_body($dialect, 400, $foreign));
    }

    my $nwords = 9;
    if (($h->{'x-mock-words'} // '') =~ /^(\d+)$/ && $1 > 0) {
        $nwords = $1;
    }

    my @base = (qw(This is a mock answer from the), $opt{name}, 'tier.');
    my @words = map { $base[$_ % @base] } 0 .. $nwords - 1;

    my %n;
    for my $k (qw(input output cached reasoning cache-write cache-1h)) {
        my $v = $h->{"x-mock-$k-tokens"} // '';
        $n{$k} = $1 + 0 if $v =~ /^(\d+)$/;
    }

    $n{search} = $1 + 0 if ($h->{'x-mock-web-search'} // '') =~ /^(\d+)$/;

    # Anthropic has no reasoning token count: thinking is output

    delete $n{reasoning} if $dialect eq 'anthropic';

    my $in = $n{input} // (int(length($req->{body}) / 4) || 1);
    my $out = $n{output} // @words + ($n{reasoning} // 0);
    my $text = join ' ', @words;

    $text = $h->{'x-mock-text'} if defined $h->{'x-mock-text'};

    my $stream = $data->{stream};
    $stream = ref $stream ? $$stream : $stream;

    my $ans = {
        dialect => $dialect, words => \@words,
        model => $h->{'x-mock-answer-model'} // $model,
        write => $n{'cache-write'}, write_1h => $n{'cache-1h'},
        search => $n{search}, service_tier => $h->{'x-mock-service-tier'},
        text => $text, in => $in, out => $out, data => $data,
        cached => $n{cached}, reasoning => $n{reasoning},
        usage => lc($h->{'x-mock-usage'} // '') ne 'none',
        finish => lc($h->{'x-mock-finish'} // ''),
        stream_error => ($h->{'x-mock-stream-error'} // '') eq '1',
        logprobs => ref $data->{logprobs} && $data->{logprobs}
            ? (($h->{'x-mock-logprob'} // '') =~ /^(-?\d+(?:\.\d+)?)$/
               ? $1 + 0 : -0.05)
            : undef,
        id => sprintf("%x%x", $$, int(time * 1000)), created => int(time),
    };

    if ($stream) {
        return stream_response($conn, $req, $ans);
    }

    return send_response($conn, $req, 200,
        ['Content-Type' => 'application/json',
         defined $ans->{logprobs} ? ('X-Mock-Asked-Logprobs' => 1) : ()],
        $JSON->encode(full_answer($ans)));
}


# --count-file: one line per request to a model endpoint

sub count_request {
    my ($req) = @_;

    my $d = eval { $JSON->decode($req->{body}) };
    $d = {} unless ref $d eq 'HASH';

    my $so = $d->{stream_options};
    my $inc = ref $so eq 'HASH' && exists $so->{include_usage}
        ? ($so->{include_usage} ? 1 : 0) : 'absent';

    my $line = join(' ', $opt{name}, $req->{path}, $d->{stream} ? 1 : 0,
        $inc) . "\n";

    # one write(2) in append mode, so that lines do not interleave

    open my $fh, '>>', $opt{'count-file'} or do {
        warn "$0: cannot append to $opt{'count-file'}: $!\n";
        return;
    };
    binmode $fh;
    syswrite($fh, $line);
    close $fh;
}


# GET /files/NAME: DIR/NAME of --files DIR

sub serve_file {
    my ($conn, $req, $name) = @_;

    my $dir = $opt{files};
    my $path = defined $dir && $name =~ /^[\w.-]+$/ ? "$dir/$name" : undef;

    if ($req->{method} ne 'GET' && $req->{method} ne 'HEAD') {
        return send_response($conn, $req, 405,
            ['Content-Type' => 'application/json', 'Allow' => 'GET, HEAD'],
            error_body(undef, 405, "Method $req->{method} not allowed"
                . " (mock)."));
    }

    my $fh;

    unless (defined $path && -f $path && open($fh, '<', $path)) {
        return send_response($conn, $req, 404,
            ['Content-Type' => 'application/json'],
            error_body(undef, 404, "No file $req->{path} (mock)."));
    }

    binmode $fh;
    my $body = do { local $/; <$fh> } // '';
    close $fh;

    return send_response($conn, $req, 200,
        ['Content-Type' => 'application/json'], $body);
}


sub full_answer {
    my ($a) = @_;

    if ($a->{dialect} eq 'openai_chat') {
        my $r = {
            id => "chatcmpl-mock$a->{id}",
            object => 'chat.completion',
            created => $a->{created},
            model => $a->{model},
            (defined $a->{service_tier}
             ? (service_tier => $a->{service_tier}) : ()),
            choices => [{
                index => 0,
                message => {
                    role => 'assistant', content => $a->{text},
                    refusal => undef,
                },
                logprobs => undef,
                finish_reason => 'stop',
            }],
            system_fingerprint => 'fp_mock',
        };

        my $c = $r->{choices}[0];

        if (defined $a->{logprobs}) {
            $c->{logprobs} = { refusal => undef, content => [
                map { { token => $_, logprob => $a->{logprobs},
                        bytes => [ unpack 'C*', $_ ], top_logprobs => [] } }
                @{$a->{words}} ] };
        }

        if ($a->{finish} eq 'length') {
            $c->{finish_reason} = 'length';

        } elsif ($a->{finish} eq 'refusal') {
            $c->{message}{content} = undef;
            $c->{message}{refusal} = "I can't help with that (mock).";
        }

        $r->{usage} = chat_usage($a) if $a->{usage};

        return $r;
    }

    if ($a->{dialect} eq 'openai_responses') {
        my $r = responses_object($a, 'completed');

        if ($a->{finish} eq 'length') {
            $r->{status} = 'incomplete';
            $r->{incomplete_details} = { reason => 'max_output_tokens' };

        } elsif ($a->{finish} eq 'refusal') {
            $r->{output}[0]{content} = [{ type => 'refusal',
                refusal => "I can't help with that (mock)." }];
        }

        return $r;
    }

    my $r = {
        id => "msg_mock$a->{id}",
        type => 'message',
        role => 'assistant',
        model => $a->{model},
        content => [{ type => 'text', text => $a->{text} }],
        stop_reason => 'end_turn',
        stop_sequence => undef,
    };

    # thinking on: a thinking block first, signed with this model's name
    my $th = $a->{data}{thinking};
    if (ref $th eq 'HASH' && ($th->{type} // '') =~ /^(enabled|adaptive)$/) {
        unshift @{$r->{content}}, { type => 'thinking',
            thinking => "Thinking as $a->{model} (mock).",
            signature => "sig-$a->{model}-$a->{id}" };
    }

    $r->{stop_reason} = 'max_tokens' if $a->{finish} eq 'length';
    $r->{stop_reason} = 'refusal' if $a->{finish} eq 'refusal';

    # X-Mock-Finish: any other word is Anthropic's stop_reason as it is
    # (pause_turn, model_context_window_exceeded), with no text for
    # pause_turn; refusal:CATEGORY adds stop_details
    if ($a->{finish} =~ /^refusal:([\w-]+)$/) {
        $r->{stop_reason} = 'refusal';
        $r->{stop_details} = { type => 'refusal', category => $1 };
    } elsif ($a->{finish} =~ /^[a-z_]+$/ && $a->{finish} ne 'length'
             && $a->{finish} ne 'refusal')
    {
        $r->{stop_reason} = $a->{finish};
        $r->{content} = [] if $a->{finish} eq 'pause_turn';
    }

    $r->{usage} = anthropic_usage($a, $a->{out}) if $a->{usage};

    return $r;
}


# the usage objects of the dialects

sub chat_usage {
    my ($a) = @_;

    my $u = {
        prompt_tokens => $a->{in},
        completion_tokens => $a->{out},
        total_tokens => $a->{in} + $a->{out},
    };

    $u->{prompt_tokens_details} = { cached_tokens => $a->{cached} }
        if defined $a->{cached};
    $u->{prompt_tokens_details}{cache_write_tokens} = $a->{write}
        if defined $a->{write};
    $u->{completion_tokens_details} = { reasoning_tokens => $a->{reasoning} }
        if defined $a->{reasoning};

    return $u;
}


sub responses_usage {
    my ($a) = @_;

    my $u = {
        input_tokens => $a->{in},
        output_tokens => $a->{out},
        total_tokens => $a->{in} + $a->{out},
    };

    $u->{input_tokens_details} = { cached_tokens => $a->{cached} }
        if defined $a->{cached};
    $u->{input_tokens_details}{cache_write_tokens} = $a->{write}
        if defined $a->{write};
    $u->{output_tokens_details} = { reasoning_tokens => $a->{reasoning} }
        if defined $a->{reasoning};

    return $u;
}


# Anthropic's input_tokens leave out the tokens read from the cache

sub anthropic_usage {
    my ($a, $out) = @_;

    my $c = $a->{cached};
    my $w = $a->{write};
    my $in = $a->{in} - ($c // 0) - ($w // 0);

    my $u = { input_tokens => $in > 0 ? $in : 0, output_tokens => $out };
    $u->{cache_read_input_tokens} = $c if defined $c;

    if (defined $w) {
        my $h1 = $a->{write_1h} // 0;
        $u->{cache_creation_input_tokens} = $w;
        $u->{cache_creation} = { ephemeral_5m_input_tokens => $w - $h1,
                                 ephemeral_1h_input_tokens => $h1 };
    }

    $u->{server_tool_use} = { web_search_requests => $a->{search} }
        if defined $a->{search};
    $u->{service_tier} = $a->{service_tier} if defined $a->{service_tier};

    return $u;
}


sub responses_object {
    my ($a, $status) = @_;

    my $done = $status eq 'completed';

    my $r = {
        id => "resp_mock$a->{id}",
        object => 'response',
        created_at => $a->{created},
        status => $status,
        model => $a->{model},
        output => $done ? [ message_item($a, 'completed') ] : [],
        (defined $a->{service_tier} ? (service_tier => $a->{service_tier})
                                    : ()),
    };

    # asked for its encrypted reasoning: a reasoning item first, sealed
    # with this model's name
    if ($done && ref $a->{data}{include} eq 'ARRAY'
        && grep { $_ eq 'reasoning.encrypted_content' } @{$a->{data}{include}})
    {
        unshift @{$r->{output}}, { type => 'reasoning',
            id => "rs_mock$a->{id}",
            summary => [{ type => 'summary_text',
                          text => "Thought as $a->{model} (mock)." }],
            encrypted_content => "enc-$a->{model}-$a->{id}" };
    }

    $r->{usage} = $done ? responses_usage($a) : undef if $a->{usage};

    return $r;
}


sub message_item {
    my ($a, $status) = @_;

    my $done = $status eq 'completed';

    return {
        id => "msg_mock$a->{id}",
        type => 'message',
        status => $status,
        role => 'assistant',
        content => $done
            ? [{ type => 'output_text', text => $a->{text},
                 annotations => [] }]
            : [],
    };
}


sub sse_events {
    my ($a) = @_;

    my @ev;
    my @w = @{$a->{words}};
    my @pieces = map { ($_ ? ' ' : '') . $w[$_] } 0 .. $#w;

    if ($a->{dialect} eq 'openai_chat') {
        my $chunk = sub {
            my ($choices, $usage) = @_;
            my $c = {
                id => "chatcmpl-mock$a->{id}",
                object => 'chat.completion.chunk',
                created => $a->{created},
                model => $a->{model},
                (defined $a->{service_tier}
                 ? (service_tier => $a->{service_tier}) : ()),
                system_fingerprint => 'fp_mock',
                choices => $choices,
            };
            $c->{usage} = $usage if defined $usage;
            return 'data: ' . $JSON->encode($c) . "\n\n";
        };

        my $so = $a->{data}{stream_options};
        my $inc = $a->{usage} && ref $so eq 'HASH' && $so->{include_usage};
        my $nul = $inc ? JSON::PP::null : undef;

        push @ev, $chunk->([{
            index => 0,
            delta => { role => 'assistant', content => '', refusal => undef },
            logprobs => undef, finish_reason => undef,
        }], $nul);

        for my $p (@pieces) {
            push @ev, $chunk->([{
                index => 0, delta => { content => $p },
                logprobs => undef, finish_reason => undef,
            }], $nul);
        }

        push @ev, $chunk->([{
            index => 0, delta => {}, logprobs => undef,
            finish_reason => 'stop',
        }], $nul);

        push @ev, $chunk->([], chat_usage($a)) if $inc;

        push @ev, "data: [DONE]\n\n";

        return @ev;
    }

    if ($a->{dialect} eq 'openai_responses') {
        my $seq = 0;
        my $ev = sub {
            my ($type, $data) = @_;
            $data = { type => $type, sequence_number => $seq++, %$data };
            return "event: $type\ndata: " . $JSON->encode($data) . "\n\n";
        };

        my $item_id = "msg_mock$a->{id}";

        push @ev, $ev->('response.created',
            { response => responses_object($a, 'in_progress') });
        push @ev, $ev->('response.in_progress',
            { response => responses_object($a, 'in_progress') });
        push @ev, $ev->('response.output_item.added',
            { output_index => 0, item => message_item($a, 'in_progress') });
        push @ev, $ev->('response.content_part.added', {
            item_id => $item_id, output_index => 0, content_index => 0,
            part => { type => 'output_text', text => '', annotations => [] },
        });

        for my $p (@pieces) {
            push @ev, $ev->('response.output_text.delta', {
                item_id => $item_id, output_index => 0, content_index => 0,
                delta => $p,
            });
        }

        push @ev, $ev->('response.output_text.done', {
            item_id => $item_id, output_index => 0, content_index => 0,
            text => $a->{text},
        });
        push @ev, $ev->('response.content_part.done', {
            item_id => $item_id, output_index => 0, content_index => 0,
            part => { type => 'output_text', text => $a->{text},
                      annotations => [] },
        });
        push @ev, $ev->('response.output_item.done',
            { output_index => 0, item => message_item($a, 'completed') });
        push @ev, $ev->('response.completed',
            { response => responses_object($a, 'completed') });

        return @ev;
    }

    # anthropic

    my $ev = sub {
        my ($type, $data) = @_;
        $data = { type => $type, %$data };
        return "event: $type\ndata: " . $JSON->encode($data) . "\n\n";
    };

    my $msg = {
        id => "msg_mock$a->{id}", type => 'message', role => 'assistant',
        model => $a->{model}, content => [], stop_reason => undef,
        stop_sequence => undef,
    };
    $msg->{usage} = anthropic_usage($a, 1) if $a->{usage};

    push @ev, $ev->('message_start', { message => $msg });

    # X-Mock-Stream-Error: 200, then an error event before any content,
    # as an overloaded Anthropic model answers
    if ($a->{stream_error}) {
        push @ev, $ev->('ping', {});
        push @ev, $ev->('error', { error => { type => 'overloaded_error',
                                              message => 'Overloaded' } });
        return @ev;
    }

    push @ev, $ev->('content_block_start',
        { index => 0, content_block => { type => 'text', text => '' } });
    push @ev, $ev->('ping', {});

    for my $p (@pieces) {
        push @ev, $ev->('content_block_delta',
            { index => 0, delta => { type => 'text_delta', text => $p } });
    }

    push @ev, $ev->('content_block_stop', { index => 0 });
    my $delta = {
        delta => { stop_reason => 'end_turn', stop_sequence => undef },
    };
    $delta->{usage} = { output_tokens => $a->{out} } if $a->{usage};

    push @ev, $ev->('message_delta', $delta);
    push @ev, $ev->('message_stop', {});

    return @ev;
}


sub stream_response {
    my ($conn, $req, $a) = @_;

    my $h = $req->{headers};
    my @ev = sse_events($a);

    my $chunked = $req->{version} eq '1.1';
    my $keep = $chunked && $req->{keepalive};

    # gzip: the whole stream in one piece

    if (gzip_wanted($req) && !defined $h->{'x-mock-break-after'}) {
        my ($all, $z) = (join('', @ev));
        gzip(\$all => \$z) or die "gzip: $GzipError\n";

        write_all($conn, "HTTP/1.1 200 OK\r\nServer: mock-llm\r\n"
            . "X-Mock-Name: $opt{name}\r\n"
            . "Content-Type: text/event-stream; charset=utf-8\r\n"
            . "Content-Encoding: gzip\r\n"
            . "Content-Length: " . length($z) . "\r\n"
            . ($req->{keepalive} ? '' : "Connection: close\r\n")
            . "\r\n" . $z);

        return $req->{keepalive};
    }

    my $head = ($chunked ? "HTTP/1.1" : "HTTP/1.0") . " 200 OK\r\n"
        . "Server: mock-llm\r\n"
        . "X-Mock-Name: $opt{name}\r\n"
        . "Content-Type: text/event-stream; charset=utf-8\r\n"
        . "Cache-Control: no-cache\r\n"
        . ($chunked ? "Transfer-Encoding: chunked\r\n" : '')
        . ($keep ? '' : "Connection: close\r\n")
        . "\r\n";

    write_all($conn, $head);

    my $break = $h->{'x-mock-break-after'};
    $break = undef unless defined $break && $break =~ /^\d+$/;

    my $delay = 0;
    if (($h->{'x-mock-event-delay-ms'} // '') =~ /^(\d+)$/) {
        $delay = $1 / 1000;
    }

    my $split = split_size($req);
    my $n = 0;

    $conn->{pieces} = 0;

    for my $e (@ev) {
        if (defined $break && $n >= $break) {
            return 0;
        }

        sleep($delay) if $delay && $n;

        write_split($conn, $e, $split, $chunked);
        $n++;
    }

    return 0 if defined $break;

    write_all($conn, "0\r\n\r\n") if $chunked;

    return $keep;
}
