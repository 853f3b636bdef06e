use FindBin; exec "$FindBin::Bin/test_notify" or die "cannot run $FindBin::Bin/test_notify: $!";
