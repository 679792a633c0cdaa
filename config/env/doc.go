// Package env is a config.Source over environment variables with a prefix;
// APP_DB__HOST sets the key "db.host". List it after files and remote
// sources so that the environment overrides them.
//
//	cfg, err := config.New(ctx, []config.Source{file.New("app.yaml"), env.New("APP")})
package env
