#!/usr/bin/perl

# Tests for the mock LLM server alone (t/mock/mock_llm.pl).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use Digest::SHA qw(sha1_hex);
use Time::HiRes qw(time sleep);

use TierRouter::Test;

my $t = TierRouter::Test->new(no_module => 1);
my $port = $t->mock('small');
my $J = JSON::PP->new->utf8->canonical;

sub post {
    my ($path, $body, @h) = @_;
    return $t->http('POST', $path, port => $port, body => $body,
        headers => ['Content-Type' => 'application/json', @h]);
}

sub words { scalar(() = $_[0] =~ /\S+/g) }

# health, 404

my $r = $t->http_get('/health', port => $port);
is($r->{status}, 200, 'health status');
is($r->{body}, 'ok', 'health body');
is($r->{headers}{'x-mock-name'}, 'small', 'health X-Mock-Name');

$r = post('/v1/embeddings', '{"model":"m","input":"x"}');
is($r->{status}, 404, 'unknown endpoint 404');
ok(TierRouter::Test::json_decode($r->{body})->{error}{message},
    'unknown endpoint JSON error');

$r = post('/v1/chat/completions', '{"model":');
is($r->{status}, 400, 'bad JSON 400');

# non-streaming, every dialect

my %req = (
    '/v1/chat/completions' => { model => 'gpt-x', messages =>
        [{ role => 'user', content => "Translate 'hello' into French." }] },
    '/v1/responses' => { model => 'gpt-y',
        input => "Translate 'hello' into French." },
    '/v1/messages' => { model => 'claude-z', max_tokens => 100, messages =>
        [{ role => 'user', content => "Translate 'hello' into French." }] },
);

for my $path (sort keys %req) {
    my $body = $J->encode($req{$path});
    my $in = int(length($body) / 4);

    $r = post($path, $body);
    is($r->{status}, 200, "$path status");
    is($r->{headers}{'x-mock-name'}, 'small', "$path X-Mock-Name");
    like($r->{headers}{'content-type'}, qr{^application/json},
        "$path content type");

    my $d = TierRouter::Test::json_decode($r->{body});
    ok($d, "$path JSON answer") or next;
    is($d->{model}, $req{$path}{model}, "$path model");

    if ($path =~ /chat/) {
        my $text = $d->{choices}[0]{message}{content};
        is($d->{object}, 'chat.completion', 'chat object');
        is($d->{usage}{prompt_tokens}, $in, 'chat prompt_tokens');
        is($d->{usage}{completion_tokens}, words($text),
            'chat completion_tokens = words');
        is($d->{usage}{total_tokens}, $in + words($text), 'chat total');

    } elsif ($path =~ /responses/) {
        my $text = $d->{output}[0]{content}[0]{text};
        is($d->{object}, 'response', 'responses object');
        is($d->{status}, 'completed', 'responses status');
        is($d->{usage}{input_tokens}, $in, 'responses input_tokens');
        is($d->{usage}{output_tokens}, words($text), 'responses output');
        is($d->{usage}{total_tokens}, $in + words($text), 'responses total');

    } else {
        my $text = $d->{content}[0]{text};
        is($d->{type}, 'message', 'anthropic type');
        is($d->{stop_reason}, 'end_turn', 'anthropic stop_reason');
        is($d->{usage}{input_tokens}, $in, 'anthropic input_tokens');
        is($d->{usage}{output_tokens}, words($text), 'anthropic output');
    }
}

# X-Mock-Words

$r = post('/v1/chat/completions', '{"model":"m","messages":[]}',
    'X-Mock-Words' => 25);
is(TierRouter::Test::json_decode($r->{body})->{usage}{completion_tokens},
    25, 'X-Mock-Words');

# streaming: OpenAI chat, with and without include_usage

for my $inc (0, 1) {
    my $q = { model => 'gpt-s', stream => JSON::PP::true, messages =>
        [{ role => 'user', content => 'hi there' }] };
    $q->{stream_options} = { include_usage => JSON::PP::true } if $inc;
    my $body = $J->encode($q);

    $r = post('/v1/chat/completions', $body);
    is($r->{status}, 200, "chat stream status (usage $inc)");
    like($r->{headers}{'content-type'}, qr{^text/event-stream},
        'chat stream content type');
    ok($r->{complete}, 'chat stream chunked terminator');

    my @ev = TierRouter::Test::parse_sse($r->{body});
    is($ev[-1]{data}, '[DONE]', 'chat stream ends with [DONE]');
    ok(!grep({ defined $_->{event} } @ev), 'chat stream has no event:');

    my @chunks = map { $_->{json} } @ev[0 .. $#ev - 1];
    is(scalar(grep { !$_ } @chunks), 0, 'chat chunks are JSON');
    is(scalar(grep { $_->{object} ne 'chat.completion.chunk' } @chunks), 0,
        'chat chunk objects');
    is(scalar(grep { $_->{model} ne 'gpt-s' } @chunks), 0, 'chunk model');
    is($chunks[0]{choices}[0]{delta}{role}, 'assistant', 'first delta role');

    my $text = join '', map { $_->{choices}[0]{delta}{content} // '' }
        grep { @{$_->{choices}} } @chunks;
    is($text, 'This is a mock answer from the small tier.', 'chat text');

    my @fin = grep { @{$_->{choices}}
        && ($_->{choices}[0]{finish_reason} // '') eq 'stop' } @chunks;
    is(scalar @fin, 1, 'one finish_reason stop');

    my @usage = grep { $_->{usage} } @chunks;

    if ($inc) {
        is(scalar @usage, 1, 'one usage chunk');
        is_deeply($usage[0]{choices}, [], 'usage chunk has no choices');
        is($usage[0]{usage}{prompt_tokens}, int(length($body) / 4),
            'stream prompt_tokens');
        is($usage[0]{usage}{completion_tokens}, 9, 'stream completion');
        is($usage[0]{usage}{total_tokens}, int(length($body) / 4) + 9,
            'stream total');
        is($chunks[-1], $usage[0], 'usage chunk is last before [DONE]');
    } else {
        is(scalar @usage, 0, 'no usage without include_usage');
    }
}

# streaming: OpenAI responses

{
    my $body = '{"model":"gpt-r","input":"hi","stream":true}';
    $r = post('/v1/responses', $body);
    is($r->{status}, 200, 'responses stream status');

    my @ev = TierRouter::Test::parse_sse($r->{body});
    is($ev[0]{event}, 'response.created', 'responses first event');
    is($ev[-1]{event}, 'response.completed', 'responses last event');
    is(scalar(grep { !defined $_->{event} || !$_->{json}
        || $_->{json}{type} ne $_->{event} } @ev), 0,
        'every event has event: matching its type');

    my $text = join '', map { $_->{json}{delta} }
        grep { $_->{event} eq 'response.output_text.delta' } @ev;
    is($text, 'This is a mock answer from the small tier.',
        'responses delta text');

    my $u = $ev[-1]{json}{response}{usage};
    is($u->{input_tokens}, int(length($body) / 4), 'responses input');
    is($u->{output_tokens}, 9, 'responses output');
    is($u->{total_tokens}, int(length($body) / 4) + 9, 'responses total');
    is($ev[-1]{json}{response}{model}, 'gpt-r', 'responses model');
    is_deeply([ map { $_->{json}{sequence_number} } @ev ], [ 0 .. $#ev ],
        'sequence numbers');
}

# streaming: Anthropic messages

{
    my $body = '{"model":"claude-s","max_tokens":10,"stream":true,'
        . '"messages":[{"role":"user","content":"hi"}]}';
    $r = post('/v1/messages', $body);
    is($r->{status}, 200, 'anthropic stream status');

    my @ev = TierRouter::Test::parse_sse($r->{body});
    my @names = map { $_->{event} } @ev;
    is($names[0], 'message_start', 'anthropic message_start');
    is($names[1], 'content_block_start', 'anthropic content_block_start');
    is($names[-1], 'message_stop', 'anthropic message_stop');
    is($names[-2], 'message_delta', 'anthropic message_delta');
    is($names[-3], 'content_block_stop', 'anthropic content_block_stop');
    is(scalar(grep { !$_->{json} || $_->{json}{type} ne $_->{event} } @ev),
        0, 'event names match types');

    is($ev[0]{json}{message}{model}, 'claude-s', 'anthropic model');
    is($ev[0]{json}{message}{usage}{input_tokens}, int(length($body) / 4),
        'anthropic input_tokens in message_start');
    is($ev[-2]{json}{usage}{output_tokens}, 9,
        'anthropic output_tokens in message_delta');

    my $text = join '', map { $_->{json}{delta}{text} }
        grep { $_->{event} eq 'content_block_delta' } @ev;
    is($text, 'This is a mock answer from the small tier.',
        'anthropic delta text');
}

# streaming to an HTTP/1.0 client: no chunked encoding, close

$r = $t->http('POST', '/v1/chat/completions', port => $port, http10 => 1,
    body => '{"model":"m","stream":true,"messages":[]}');
is($r->{status}, 200, 'HTTP/1.0 stream');
ok(!$r->{headers}{'transfer-encoding'}, 'HTTP/1.0 stream not chunked');
like($r->{body}, qr/data: \[DONE\]\n\n\z/, 'HTTP/1.0 stream complete');

# X-Mock-Status in each dialect's shape

for my $status (429, 500, 503) {
    $r = post('/v1/chat/completions', '{"model":"m","messages":[]}',
        'X-Mock-Status' => $status);
    is($r->{status}, $status, "chat $status");
    my $d = TierRouter::Test::json_decode($r->{body});
    ok($d && $d->{error}{message} && $d->{error}{type}
        && exists $d->{error}{param} && exists $d->{error}{code},
        "chat $status OpenAI error shape");

    $r = post('/v1/responses', '{"model":"m","input":"x"}',
        'X-Mock-Status' => $status);
    is($r->{status}, $status, "responses $status");
    $d = TierRouter::Test::json_decode($r->{body});
    ok($d && $d->{error}{message}, "responses $status OpenAI error shape");

    $r = post('/v1/messages', '{"model":"m","messages":[]}',
        'X-Mock-Status' => $status);
    is($r->{status}, $status, "messages $status");
    $d = TierRouter::Test::json_decode($r->{body});
    ok($d && $d->{type} eq 'error' && $d->{error}{type}
        && $d->{error}{message}, "messages $status Anthropic error shape");
}

is(post('/v1/chat/completions', '{}', 'X-Mock-Status' => 429)
    ->{headers}{'retry-after'}, 1, '429 Retry-After');

is(TierRouter::Test::json_decode(post('/v1/messages', '{}',
    'X-Mock-Status' => 429)->{body})->{error}{type}, 'rate_limit_error',
    'anthropic 429 rate_limit_error');

# X-Mock-Latency-Ms

{
    my $t0 = time;
    $r = post('/v1/chat/completions', '{"model":"m","messages":[]}',
        'X-Mock-Latency-Ms' => 300);
    my $el = time - $t0;
    is($r->{status}, 200, 'latency status');
    ok($el >= 0.3 && $el < 2, "latency respected ($el s)");
}

# X-Mock-Break-After

for my $case (
    ['/v1/chat/completions', '{"model":"m","stream":true,"messages":[]}'],
    ['/v1/responses', '{"model":"m","stream":true,"input":"x"}'],
    ['/v1/messages', '{"model":"m","stream":true,"messages":[]}'],
) {
    $r = post(@$case, 'X-Mock-Break-After' => 3);
    is($r->{status}, 200, "$case->[0] break status");
    ok(!$r->{complete}, "$case->[0] break: no chunked terminator");
    my @ev = TierRouter::Test::parse_sse($r->{body});
    is(scalar @ev, 3, "$case->[0] break after 3 events");
    unlike($r->{body}, qr/\[DONE\]|message_stop|response\.completed/,
        "$case->[0] break: no final event");
}

$r = post('/v1/chat/completions', '{"model":"m","messages":[]}',
    'X-Mock-Break-After' => 10);
is(length $r->{body}, 10, 'non-stream break: 10 bytes of the body');
ok(!$r->{complete}, 'non-stream break: body short of Content-Length');

# X-Mock-Echo: exact bytes, including invalid UTF-8 and NULs

for my $body ('{"model":"auto", "x" : [1,2]}',
    "{\"a\":\"\xff\xfe\x00 caf\xc3\xa9\"}\n\t ", '', 'x' x 70000)
{
    $r = post('/v1/chat/completions', $body, 'X-Mock-Echo' => 1);
    is($r->{status}, 200, 'echo status');
    is($r->{headers}{'content-type'}, 'application/json', 'echo type');
    ok($r->{body} eq $body, 'echo body identical (' . length($body) . ')');
    is($r->{headers}{'x-mock-request-length'}, length $body, 'echo length');
    is($r->{headers}{'x-mock-request-sha1'}, sha1_hex($body), 'echo sha1');
    is($r->{headers}{'x-mock-request-content-length'}, length $body,
        'echo Content-Length header');
}

$r = post('/anything/at/all', 'not json', 'X-Mock-Echo' => 1);
is($r->{body}, 'not json', 'echo on any path');

# chunked request body, echoed

{
    my @chunks = ('{"model":', '"auto","messages"', ':[]}');
    $r = $t->http('POST', '/v1/chat/completions', port => $port,
        chunks => \@chunks, chunk_delay => 0.05,
        headers => ['X-Mock-Echo' => 1]);
    is($r->{body}, join('', @chunks), 'chunked body echoed');
    is($r->{headers}{'x-mock-request-content-length'}, 'chunked',
        'chunked noted');

    $r = $t->http('POST', '/v1/chat/completions', port => $port,
        chunks => \@chunks);
    is(TierRouter::Test::json_decode($r->{body})->{model}, 'auto',
        'chunked body parsed');
}

# Expect: 100-continue

$r = $t->http('POST', '/v1/chat/completions', port => $port, expect => 1,
    body => '{"model":"e","messages":[]}');
ok($r->{continue}, '100 Continue sent');
is($r->{status}, 200, 'status after 100 Continue');
is(TierRouter::Test::json_decode($r->{body})->{model}, 'e',
    'body after 100 Continue');

# keep-alive: HTTP/1.1 pipelined, HTTP/1.0 with keep-alive

{
    my $b = '{"model":"k1","messages":[]}';
    my $req = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        . "Content-Length: " . length($b) . "\r\n\r\n$b";
    my $last = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

    my $raw = $t->raw($req . $req . $last, port => $port, timeout => 5);
    my @st = $raw =~ m{HTTP/1\.1 (\d{3}) }g;
    is_deeply(\@st, [200, 200, 200], 'HTTP/1.1 keep-alive, 3 requests');

    my $r10 = "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    $raw = $t->raw($r10 . "GET /health HTTP/1.0\r\n\r\n", port => $port,
        timeout => 5);
    @st = $raw =~ m{HTTP/1\.0 (\d{3}) }g;
    is_deeply(\@st, [200, 200], 'HTTP/1.0 keep-alive');
    like($raw, qr/Connection: keep-alive/i, 'HTTP/1.0 keep-alive header');

    # a request line split over two writes
    $raw = $t->raw('', port => $port, timeout => 5, delay => 0.05,
        pieces => ["GET /hea", "lth HTTP/1.1\r\nHost: x\r\n",
                   "Connection: close\r\n\r\n"]);
    like($raw, qr{^HTTP/1\.1 200}, 'request in pieces');
}

# hundreds of sequential requests

{
    my $t0 = time;
    my $ok = 0;

    for (1 .. 300) {
        my $x = post('/v1/chat/completions', '{"model":"m","messages":[]}');
        $ok++ if $x->{status} == 200;
    }

    my $el = time - $t0;
    is($ok, 300, '300 sequential requests');
    ok($el < 15, sprintf('300 requests in %.2f s', $el));
}

# concurrency: 20 clients each waiting 300 ms at once

{
    my @s;
    my $req = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        . "X-Mock-Latency-Ms: 300\r\nConnection: close\r\n"
        . "Content-Length: 28\r\n\r\n" . '{"model":"c","messages":[] }';

    my $t0 = time;

    for (1 .. 20) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $port) or next;
        syswrite($s, $req);
        push @s, $s;
    }

    my $ok = 0;

    for my $s (@s) {
        my $data = '';
        my $sel = IO::Select->new($s);
        while ($sel->can_read(5)) {
            last unless sysread($s, $data, 65536, length $data);
        }
        $ok++ if $data =~ m{^HTTP/1\.1 200};
    }

    my $el = time - $t0;
    is($ok, 20, '20 concurrent requests');
    ok($el < 2.5, sprintf('concurrent requests overlap (%.2f s)', $el));
}

# SIGTERM stops the server and its children

{
    my $t2 = TierRouter::Test->new(no_module => 1);
    my $p2 = $t2->mock('term');
    my $pid = $t2->{mocks}{term};

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p2);
    syswrite($s, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        . "X-Mock-Latency-Ms: 20000\r\nContent-Length: 2\r\n\r\n{}");
    sleep 0.3;

    my @kids = children($pid);
    is(scalar @kids, 1, 'one child serving the slow request');

    kill 'TERM', $pid;
    my $t0 = time;
    sleep 0.05 while (kill(0, $pid) && waitpid($pid, 1) != $pid)
        && time - $t0 < 5;
    ok(!kill(0, $pid), 'server exited on SIGTERM');
    ok(!-e $t2->testdir . '/mock_term.pid', 'pidfile removed');

    sleep 0.05 while grep({ alive($_) } @kids) && time - $t0 < 5;
    ok(!grep({ alive($_) } @kids), 'children exited');

    my $data = '';
    my $sel = IO::Select->new($s);
    sysread($s, $data, 100) if $sel->can_read(2);
    is($data, '', 'slow connection closed');

    delete $t2->{mocks}{term};
}

done_testing;


sub children {
    my ($ppid) = @_;
    my @c;
    opendir my $d, '/proc' or return;
    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my ($pp) = (<$fh> // '') =~ /^\d+ \(.*\) \S+ (\d+)/ or next;
        push @c, $p if $pp == $ppid;
    }
    return @c;
}

sub alive {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $st = <$fh> // '';
    return $st !~ /^\d+ \(.*\) Z/;
}
