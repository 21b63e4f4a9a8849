// A JeroMQ peer driven by its command line, for tests/tests/interop_jeromq.rs. Debian's JeroMQ
// (0.3.6) speaks ZMTP 2.0 only, so the tests use it to show that such a peer is refused; this
// peer therefore needs no configuration document and ignores its stdin.
//
// Usage: JeromqPeer TYPE bind|connect ENDPOINT TIMEOUT_MS ACTION...
//   TYPE      PUSH, PULL, DEALER, ROUTER, REQ, REP, PUB, SUB, PAIR
//   ENDPOINT  tcp://host:port; for bind, tcp://host:* picks a free port
//   TIMEOUT_MS the whole run's budget: every action ends by then, and so does the process
//   ACTION    send:N  send N one-frame messages "jeromq-<i>" ({"sent": i} each)
//             recv:N  receive N messages ({"recv": [hex, ...]} each); running out of time is
//                     an error
//             wait    stay connected until the budget is spent
//
// Output, one JSON object per line on stdout: {"bound": endpoint}, {"ready": true},
// {"event": NAME, "value": n} for each monitor event of the socket, {"sent": i},
// {"recv": [hex, ...]}, {"error": text} (the peer then exits with status 1), {"done": true}.
// A watchdog ends the process shortly after the budget, whatever JeroMQ is doing.

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import org.zeromq.ZMQ;

public final class JeromqPeer {
    private static final String MONITOR = "inproc://jeromq-peer-monitor";

    private JeromqPeer() {}

    private static synchronized void emit(String line) {
        System.out.println(line);
        System.out.flush();
    }

    private static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        return b.append('"').toString();
    }

    private static String hex(byte[] bytes) {
        StringBuilder b = new StringBuilder();
        for (byte x : bytes) {
            b.append(String.format("%02x", x & 0xff));
        }
        return b.toString();
    }

    private static void fail(String why) {
        emit("{\"error\":" + quote(why) + "}");
        System.exit(1);
    }

    private static int socketType(String name) {
        switch (name) {
            case "PUSH": return ZMQ.PUSH;
            case "PULL": return ZMQ.PULL;
            case "DEALER": return ZMQ.DEALER;
            case "ROUTER": return ZMQ.ROUTER;
            case "REQ": return ZMQ.REQ;
            case "REP": return ZMQ.REP;
            case "PUB": return ZMQ.PUB;
            case "SUB": return ZMQ.SUB;
            case "PAIR": return ZMQ.PAIR;
            default:
                fail("unknown socket type " + name);
                return -1;
        }
    }

    private static String eventName(int event) {
        if (event == ZMQ.EVENT_CONNECTED) return "CONNECTED";
        if (event == ZMQ.EVENT_CONNECT_DELAYED) return "CONNECT_DELAYED";
        if (event == ZMQ.EVENT_CONNECT_RETRIED) return "CONNECT_RETRIED";
        if (event == ZMQ.EVENT_LISTENING) return "LISTENING";
        if (event == ZMQ.EVENT_BIND_FAILED) return "BIND_FAILED";
        if (event == ZMQ.EVENT_ACCEPTED) return "ACCEPTED";
        if (event == ZMQ.EVENT_ACCEPT_FAILED) return "ACCEPT_FAILED";
        if (event == ZMQ.EVENT_CLOSED) return "CLOSED";
        if (event == ZMQ.EVENT_CLOSE_FAILED) return "CLOSE_FAILED";
        if (event == ZMQ.EVENT_DISCONNECTED) return "DISCONNECTED";
        if (event == ZMQ.EVENT_MONITOR_STOPPED) return "MONITOR_STOPPED";
        return "EVENT_" + event;
    }

    /** Reports the socket's monitor events until told to stop. */
    private static Thread monitor(ZMQ.Context ctx, AtomicBoolean stop) {
        ZMQ.Socket events = ctx.socket(ZMQ.PAIR);
        events.setReceiveTimeOut(50);
        events.connect(MONITOR);
        Thread t = new Thread(() -> {
            while (!stop.get()) {
                ZMQ.Event e = ZMQ.Event.recv(events);
                if (e == null) {
                    continue;
                }
                Object v = e.getValue();
                String value = v instanceof Number ? v.toString() : "0";
                emit("{\"event\":" + quote(eventName(e.getEvent())) + ",\"value\":" + value + "}");
            }
            events.setLinger(0);
            events.close();
        }, "monitor");
        t.setDaemon(true);
        t.start();
        return t;
    }

    /**
     * Binds to a port the kernel reports free. JeroMQ's own "*" port search starts at 49152 in
     * every process, and two processes searching at once make it fail.
     */
    private static String bindFreePort(ZMQ.Socket socket, String prefix) throws Exception {
        String host = prefix.substring(prefix.indexOf("://") + 3);
        Throwable last = null;
        for (int attempt = 0; attempt < 20; attempt++) {
            int port;
            try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getByName(host))) {
                port = probe.getLocalPort();
            }
            String endpoint = prefix + ":" + port;
            try {
                socket.bind(endpoint);
                return endpoint;
            } catch (Throwable e) {
                last = e;
            }
        }
        throw new Exception("no free port to bind: " + last);
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 5) {
            fail("usage: JeromqPeer TYPE bind|connect ENDPOINT TIMEOUT_MS ACTION...");
        }
        String type = args[0];
        String side = args[1];
        String endpoint = args[2];
        long timeoutMs = Long.parseLong(args[3]);
        long deadline = System.currentTimeMillis() + timeoutMs;

        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(timeoutMs + 3000);
            } catch (InterruptedException e) {
                return;
            }
            emit("{\"error\":\"watchdog: still running past the budget\"}");
            Runtime.getRuntime().halt(2);
        }, "watchdog");
        watchdog.setDaemon(true);
        watchdog.start();

        ZMQ.Context ctx = ZMQ.context(1);
        ZMQ.Socket socket = ctx.socket(socketType(type));
        socket.setLinger(0);
        AtomicBoolean stop = new AtomicBoolean(false);
        Thread monitorThread = null;
        try {
            if (!socket.monitor(MONITOR, ZMQ.EVENT_ALL)) {
                fail("monitor refused");
            }
            monitorThread = monitor(ctx, stop);
            if (type.equals("SUB")) {
                socket.subscribe(new byte[0]);
            }
            switch (side) {
                case "bind":
                    if (endpoint.endsWith(":*")) {
                        endpoint = bindFreePort(socket, endpoint.substring(0, endpoint.length() - 2));
                    } else {
                        socket.bind(endpoint);
                    }
                    emit("{\"bound\":" + quote(endpoint) + "}");
                    break;
                case "connect":
                    socket.connect(endpoint);
                    break;
                default:
                    fail("bind or connect, not " + side);
            }
            emit("{\"ready\":true}");
            for (int a = 4; a < args.length; a++) {
                String action = args[a];
                if (action.equals("wait")) {
                    long left = deadline - System.currentTimeMillis();
                    if (left > 0) {
                        Thread.sleep(left);
                    }
                } else if (action.startsWith("send:")) {
                    int n = Integer.parseInt(action.substring(5));
                    for (int i = 0; i < n; i++) {
                        long left = deadline - System.currentTimeMillis();
                        if (left <= 0) {
                            fail("send timed out after " + i + " messages");
                        }
                        socket.setSendTimeOut((int) Math.min(left, Integer.MAX_VALUE));
                        byte[] body = ("jeromq-" + i).getBytes(StandardCharsets.UTF_8);
                        if (!socket.send(body, 0)) {
                            fail("send timed out after " + i + " messages");
                        }
                        emit("{\"sent\":" + i + "}");
                    }
                } else if (action.startsWith("recv:")) {
                    int n = Integer.parseInt(action.substring(5));
                    for (int i = 0; i < n; i++) {
                        List<String> frames = new ArrayList<>();
                        do {
                            long left = deadline - System.currentTimeMillis();
                            if (left <= 0) {
                                fail("recv timed out after " + i + " messages");
                            }
                            socket.setReceiveTimeOut((int) Math.min(left, Integer.MAX_VALUE));
                            byte[] frame = socket.recv(0);
                            if (frame == null) {
                                fail("recv timed out after " + i + " messages");
                            }
                            frames.add(quote(hex(frame)));
                        } while (socket.hasReceiveMore());
                        emit("{\"recv\":[" + String.join(",", frames) + "]}");
                    }
                } else {
                    fail("unknown action " + action);
                }
            }
            emit("{\"done\":true}");
        } catch (Throwable e) {
            fail(e.toString());
        } finally {
            stop.set(true);
            if (monitorThread != null) {
                monitorThread.join(500);
            }
        }
        // Closing the socket with linger 0 and leaving: ctx.term() would wait for the monitor's
        // socket too, and nothing here may wait without a bound.
        socket.close();
        System.exit(0);
    }
}
