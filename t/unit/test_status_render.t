use FindBin; exec "$FindBin::Bin/test_status_render" or die "cannot run $FindBin::Bin/test_status_render: $!";
