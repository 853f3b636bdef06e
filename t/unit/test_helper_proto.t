use FindBin; exec "$FindBin::Bin/test_helper_proto" or die "cannot run $FindBin::Bin/test_helper_proto: $!";
