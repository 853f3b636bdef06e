use FindBin; exec "$FindBin::Bin/test_slow_dns" or die "cannot run $FindBin::Bin/test_slow_dns: $!";
