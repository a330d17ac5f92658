{
  "targets": [
    {
      "target_name": "tslirp_native",
      "sources": [
        "native/tslirp_native.c",
        "native/napi_util.c",
        "native/ns_attach.c",
        "native/tap_io.c",
        "native/sandbox.c",
        "native/icmp_socket.c",
        "native/checksum.c",
        "native/socket_fd.c",
        "native/malloc_control.c",
        "native/loop_control.c",
        "native/busy_poll.c",
        "native/tcp_socket.c",
        "native/tcp_listener.c",
        "native/udp_socket.c",
        "native/socket_table.c",
        "native/v8_memory.cc"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "cflags_c": ["-std=gnu11"],
      "libraries": ["-lpthread"]
    },
    {
      "target_name": "tslirp",
      "type": "executable",
      "sources": [
        "native/launcher.c",
        "native/launcher_args.c",
        "native/launcher_sandbox.c",
        "native/sandbox_root.c",
        "native/ns_attach.c"
      ],
      "defines": ["TSLIRP_NODE_PATH=\"<!(node -p \"process.env.npm_node_execpath || process.execPath\")\""],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"]
    },
    {
      "target_name": "install_launcher",
      "type": "none",
      "dependencies": ["tslirp"],
      "copies": [{ "destination": "<(module_root_dir)/bin", "files": ["<(PRODUCT_DIR)/tslirp"] }]
    }
  ]
}
