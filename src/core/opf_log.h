/* Log levels the engine reports with. The values are syslog's, which are
 * also httpd's APLOG_* values, so the glue passes them through unchanged. */
#ifndef OPF_LOG_H
#define OPF_LOG_H

#define OPF_LOG_ERR     3
#define OPF_LOG_WARNING 4
#define OPF_LOG_NOTICE  5
#define OPF_LOG_INFO    6
#define OPF_LOG_DEBUG   7

#endif
