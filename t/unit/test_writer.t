use FindBin; exec "$FindBin::Bin/test_writer" or die "cannot run $FindBin::Bin/test_writer: $!";
