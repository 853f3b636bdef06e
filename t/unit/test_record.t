use FindBin; exec "$FindBin::Bin/test_record" or die "cannot run $FindBin::Bin/test_record: $!";
